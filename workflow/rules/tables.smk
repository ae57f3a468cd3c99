# The paper's tables (Markdown, LaTeX, CSV): main table per protocol, bargaining / alignment,
# comparisons, paired tests, protocols side by side.


rule tables:
    input:
        table=rules.aggregate_runs.output.table,
    output:
        report(
            directory(f"{RESULTS}/tables"),
            patterns=["{name}.md"],
            category="Tables",
        ),
    log:
        f"{RESULTS}/logs/tables.log",
    conda:
        "../../environment.yml"
    shell:
        "fairbench report tables --collected {input.table:q} --out {output:q} > {log:q} 2>&1"

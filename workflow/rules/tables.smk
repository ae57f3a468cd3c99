# The paper's tables (Markdown, LaTeX, CSV): main table per protocol, bargaining / alignment,
# comparisons, paired tests, protocols side by side; and the same tables as HTML pages, which the
# Snakemake report (snakemake --report report.html) shows in the page.


rule tables:
    input:
        table=rules.aggregate_runs.output.table,
    output:
        directory(f"{RESULTS}/tables"),
    log:
        f"{RESULTS}/logs/tables.log",
    conda:
        "../../environment.yml"
    shell:
        "fairbench report tables --collected {input.table:q} --out {output:q} > {log:q} 2>&1"


rule tables_html:
    input:
        tables=rules.tables.output,
    output:
        report(
            directory(f"{RESULTS}/report/tables"),
            patterns=["{name}.html"],
            category="Tables",
            labels={"table": "{name}"},
            caption="../report/table.rst",
        ),
    log:
        f"{RESULTS}/logs/tables_html.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m fairbench.reports.tables_html --tables {input.tables:q} --out {output:q} > {log:q} 2>&1"

# Figures (PNG + PDF): learning curves with seed bands, bargaining success, trade-offs, ablations,
# and the synthetic two-group figure.


rule figures:
    input:
        table=rules.aggregate_runs.output.table,
    output:
        report(
            directory(f"{RESULTS}/figures/runs"),
            patterns=["{name}.png"],
            category="Figures",
        ),
    log:
        f"{RESULTS}/logs/figures.log",
    conda:
        "../../environment.yml"
    shell:
        "fairbench report figures --collected {input.table} --out {output} > {log} 2>&1"


rule synthetic_figure:
    output:
        report(
            directory(f"{RESULTS}/figures/synthetic"),
            patterns=["{name}.png"],
            category="Synthetic two-group problem",
        ),
    log:
        f"{RESULTS}/logs/synthetic.log",
    conda:
        "../../environment.yml"
    shell:
        "fairbench report synthetic --out {output} > {log} 2>&1"

# Figures (PNG + PDF): learning curves with seed bands, bargaining success, trade-offs, ablations,
# and the synthetic two-group figure.
# Runs that support none of them (an experiment of one's own, any method set) get a note saying what
# they lack instead (fairbench.pipeline.plan note-lacking), and the pipeline goes on.


rule figures:
    input:
        table=rules.aggregate_runs.output.table,
    output:
        report(
            directory(f"{RESULTS}/figures/runs"),
            # <kind>_<protocol>_<setting>.png, grouped by protocol and setting in the report
            patterns=["{kind}_{protocol,paper|standard}_{setting}.png"],
            category="Figures, {protocol} protocol",
            subcategory="{setting}",
            labels={"figure": "{kind}", "setting": "{setting}", "protocol": "{protocol}"},
            caption="../report/figure.rst",
        ),
    log:
        f"{RESULTS}/logs/figures.log",
    conda:
        "../../environment.yml"
    shell:
        "status=0; fairbench report figures --collected {input.table:q} --out {output:q} > {log:q} 2>&1 || status=$?; "
        "python -m fairbench.pipeline.plan note-lacking --exit-status $status --log {log:q} --folder {output:q} >> {log:q}"


rule synthetic_figure:
    output:
        report(
            directory(f"{RESULTS}/figures/synthetic"),
            patterns=["{name}.png"],
            category="Synthetic two-group problem",
            labels={"figure": "{name}"},
            caption="../report/synthetic.rst",
        ),
    log:
        f"{RESULTS}/logs/synthetic.log",
    conda:
        "../../environment.yml"
    shell:
        "fairbench report synthetic --out {output:q} > {log:q} 2>&1"


rule log_report_to_wandb:
    input:
        tables=rules.tables.output,
        figures=rules.figures.output,
        synthetic=rules.synthetic_figure.output,
    output:
        record=f"{RESULTS}/aggregate/wandb_report.json",
    params:
        wandb=wandb_mode_option(),
        wandb_dir=lambda wildcards: RESULTS,  # wandb keeps its files in <results_dir>/wandb (offline runs: wandb/offline-run-*)
    log:
        f"{RESULTS}/logs/wandb_report.log",
    conda:
        "../../environment.yml"
    shell:
        "fairbench report wandb --tables {input.tables:q} --figures {input.figures:q} {input.synthetic:q} "
        "--record {output.record:q} {params.wandb} --wandb-dir {params.wandb_dir:q} > {log:q} 2>&1"

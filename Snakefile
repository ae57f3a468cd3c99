# fairbench: raw data -> prepared datasets -> training runs -> tables, figures and report.
#   snakemake --cores all                                   # the full benchmark (config/config.yaml)
#   snakemake --cores all --configfile config/quick.yaml    # a small end-to-end version
from fairbench.workflow_config import check_config, export_tracking_settings

configfile: "config/config.yaml"

JOBS = check_config(config)
export_tracking_settings(config)
RESULTS = config["results_dir"]
SEEDS = config["seeds"]

report: "workflow/report/workflow.rst"

include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/findings.smk"


rule all:
    default_target: True
    input:
        # every run is a target too, so that a deleted run is trained again (and what depends on it)
        run_files(JOBS, "metrics.csv"),
        rules.tables.output,
        rules.figures.output,
        rules.synthetic_figure.output,
        rules.log_report_to_wandb.output,
        rules.findings.output,

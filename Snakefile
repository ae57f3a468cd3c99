# fairbench: raw data -> prepared datasets -> training runs -> tables, figures and report.
#   snakemake --cores all                                   # the full benchmark (config/config.yaml)
#   snakemake --cores all --configfile config/quick.yaml --replace-workflow-config   # a small end-to-end version
#   snakemake --cores all --config results_dir=rerun        # every run trained again into a fresh folder
import os
import sys
import time

from fairbench.pipeline.chunks import DEFAULT_SEEDS_PER_JOB, parallel_jobs, plan_chunks, seeds_to_train
from fairbench.pipeline.config import ConfigError, check_config, export_tracking_settings
from fairbench.pipeline.eta import estimate as training_estimate
from fairbench.pipeline.plan import (end_message, say_missing_metadata_once, stale_message, start_message, survey,
                                    trained_since)

configfile: "config/config.yaml"

JOBS = check_config(config)
export_tracking_settings(config)
RESULTS = config["results_dir"]
STARTED = time.time()
PLAN = survey(JOBS, f"{RESULTS}/runs", config)
if PLAN.stale:
    raise ConfigError(stale_message(PLAN, RESULTS))

# The seeds without a record, in chunks of at most seeds_per_job seeds (one job, one process each).
# How many run at once: --cores over the threads of a job, or --jobs (nodes) on a cluster.
PARALLEL_JOBS = parallel_jobs(getattr(workflow, "_cores", None), getattr(workflow.resource_settings, "nodes", None),
                              config.get("threads_per_job", 1))
CHUNKS = plan_chunks(((job, seeds_to_train(job, f"{RESULTS}/runs", PLAN.statuses())) for job in JOBS),
                     config.get("seeds_per_job", DEFAULT_SEEDS_PER_JOB), PARALLEL_JOBS)
replaced = workflow.config_settings.replace_workflow_config  # --replace-workflow-config drops config.yaml
CONFIGFILES = [str(c) for c in workflow.configfiles if not (replaced and c == "config/config.yaml")]
if workflow.is_main_process:
    # A chunk's marker says its seeds were trained; one of them lacks a record now (deleted since), so
    # the marker is stale: remove it, and the chunk trains again.
    for chunk in CHUNKS:
        if os.path.exists(chunk.marker(RESULTS)):
            os.remove(chunk.marker(RESULTS))
    # What was found and what will be trained, before Snakemake lists the jobs.
    print(start_message(PLAN, RESULTS, CONFIGFILES), file=sys.stderr)
    print(training_estimate(CHUNKS, PARALLEL_JOBS).line(), file=sys.stderr)

report: "workflow/report/workflow.rst"


say_missing_metadata_once()  # snakemake --report warns once per file without metadata otherwise

include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/findings.smk"

# run on the submit host under a cluster executor: downloads (compute nodes often have no internet) and
# the small report steps (each would cost a cluster job and a status poll)
localrules: fetch_dataset, aggregate_runs, tables, tables_html, figures, synthetic_figure, log_report_to_wandb, findings, report_index, check_runs


# The last step: every table and figure is built; exits non-zero (after building them) when a run
# failed, listing the failed runs and their errors (they are also in tables/failed_runs.csv).
rule check_runs:
    input:
        tables=rules.tables.output,
        tables_html=rules.tables_html.output,
        figures=rules.figures.output,
        synthetic=rules.synthetic_figure.output,
        wandb=rules.log_report_to_wandb.output,
    output:
        status=f"{RESULTS}/logs/status.txt",
    message:
        "check that every run finished"
    log:
        f"{RESULTS}/logs/check_runs.log",
    conda:
        "environment.yml"
    shell:
        "python -m fairbench.pipeline.plan check --tables {input.tables:q} --out {output.status:q} > {log:q} 2>&1"


# The default target: every run is an input of its own, as its record or its chunk's marker (a rule
# without output requires its inputs, so a missing or deleted run is trained even when the tables
# exist), then the check above and the findings. The message replaces Snakemake's listing of the inputs (thousands of paths on one line).
rule all:
    default_target: True
    input:
        runs=run_inputs(),
        check=rules.check_runs.output,
        findings=rules.findings.output,
        report_index=rules.report_index.output,
    message:
        "fairbench: every run, table and figure of the configuration is built"


onsuccess:
    print(end_message(PLAN, RESULTS, trained_since(PLAN.folders(), STARTED), ok=True, configfiles=CONFIGFILES),
          file=sys.stderr)


onerror:
    print(end_message(PLAN, RESULTS, trained_since(PLAN.folders(), STARTED), ok=False, configfiles=CONFIGFILES),
          file=sys.stderr)

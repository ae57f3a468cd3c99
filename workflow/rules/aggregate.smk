# All finished runs of the configuration in one long table (one row per run and epoch).


rule aggregate_runs:
    input:
        runs=run_files(JOBS, "run.json"),
        metrics=run_files(JOBS, "metrics.csv"),
    output:
        table=f"{RESULTS}/aggregate/runs.parquet",
    log:
        f"{RESULTS}/logs/aggregate.log",
    conda:
        "../../environment.yml"
    shell:
        "fairbench report collect --runs {input.runs} --out {output.table} > {log} 2>&1"

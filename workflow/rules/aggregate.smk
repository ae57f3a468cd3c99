import hashlib

# All run records of the configuration in one long table (one row per run and epoch); failed runs are
# listed in the table's metadata and reported by the tables (failed_runs.csv).


rule aggregate_runs:
    input:
        runs=run_inputs(),
    output:
        table=f"{RESULTS}/aggregate/runs.parquet",
    message:
        "collect the {params.n} run records into {output.table}"
    params:
        n=len(run_files(JOBS, "run.json")),
        runs=run_files(JOBS, "run.json"),
        # which runs are collected: a change of the configuration's run list reruns this rule
        runs_digest=hashlib.sha256("\n".join(run_files(JOBS, "run.json")).encode()).hexdigest()[:16],
    log:
        f"{RESULTS}/logs/aggregate.log",
    conda:
        "../../environment.yml"
    shell:
        "fairbench report collect --runs {params.runs:q} --out {output.table:q} > {log:q} 2>&1"


# One job per chunk of a configuration's seeds (fairbench/pipeline/chunks.py): the seeds of one
# (experiment, protocol, setting, method, variant) that have no record when the workflow is loaded, at
# most `seeds_per_job` of them, trained one after the other in one process (`fairbench train --seeds`).
# A chunk is named by its seed list, so a deleted or added seed trains alone; each seed's run.json is
# written as it finishes. The job's output is the chunk's marker, not the run records: Snakemake never
# deletes a finished run, and a finished run is no job's output, so nothing (a changed device, wandb
# mode or path) retrains it.
# A seed that fails (a NaN loss, a batch larger than the training set, ...) still ends with a run.json
# (status failed, the error) and costs the other seeds nothing; the tables and figures are built from
# the runs that finished, and the last rule (check_runs) lists the failed runs and exits non-zero. A job
# that is killed (SIGTERM, out of memory) names the signal and fails; its unfinished seeds have no
# record, and the next invocation trains them.


rule train:
    input:
        unpack(prepared_inputs),
    output:
        marker=f"{RESULTS}/logs/train/{{run}}/seeds{{seeds}}.done",
    params:
        out=lambda wc: f"{RESULTS}/runs/{wc.run}/seed{{seed}}",
        seeds=lambda wc: ",".join(map(str, parse_seeds_tag(wc.seeds))),
        setting=lambda wc: job_of(wc).setting,
        method=lambda wc: job_of(wc).method,
        protocol=lambda wc: job_of(wc).protocol,
        overrides=train_overrides,
        wandb=wandb_mode_option(),
        wandb_dir=lambda wildcards: RESULTS,  # wandb keeps its files in <results_dir>/wandb
        wandb_name=lambda wc: f"{wc.run}/seed{{seed}}",
        wandb_group=lambda wc: wc.run,
        prepared=f"{RESULTS}/prepared",
        device=config.get("device", "cpu"),
    message:
        "train {wildcards.run}, seeds {params.seeds}"
    threads: config.get("threads_per_job", 1)
    resources:
        mem_mb=1500,
        runtime=60,  # minutes; the largest default-grid run takes under a minute on one core
    benchmark:
        f"{RESULTS}/benchmarks/train/{{run}}/seeds{{seeds}}.tsv"
    log:
        f"{RESULTS}/logs/train/{{run}}/seeds{{seeds}}.log",
    conda:
        "../../environment.yml"
    shell:
        "status=0; fairbench train --setting {params.setting} --method {params.method} "
        "--protocol {params.protocol} --seeds {params.seeds} --keep-going --out {params.out:q} "
        "--prepared {params.prepared:q} {params.overrides} --threads {threads} --device {params.device} "
        "{params.wandb} --wandb-dir {params.wandb_dir:q} --wandb-name {params.wandb_name:q} "
        "--wandb-group {params.wandb_group:q} --no-progress > {log:q} 2>&1 || status=$?; "
        "python -m fairbench.pipeline.plan finish-chunk --out {params.out:q} --seeds {params.seeds} "
        "--marker {output.marker:q} --exit-status $status --log {log:q} --setting {params.setting} "
        "--method {params.method} --protocol {params.protocol} {params.overrides} >> {log:q} 2>&1"

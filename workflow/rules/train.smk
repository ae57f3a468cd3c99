# One job per run: (experiment, protocol, setting, method, variant, seed). Each run is its own target,
# so adding seeds trains only the new runs and a deleted run folder retrains only that run.
# A run that fails (a NaN loss, a batch larger than the training set, ...) still ends with a run.json
# (status failed, the error): the job succeeds with that record, the tables and figures are built from
# the runs that finished, and the last rule (check_runs) lists the failed runs and exits non-zero.

RUN = f"{RESULTS}/runs/{{experiment}}/{{protocol}}/{{setting}}/{{method}}/{{variant}}/seed{{seed}}"


rule train:
    input:
        unpack(prepared_inputs),
    output:
        run=f"{RUN}/run.json",
    params:
        out=lambda wc, output: os.path.dirname(output.run),
        overrides=train_overrides,
        wandb=wandb_mode_option(),
        wandb_dir=f"{RESULTS}/wandb",
        prepared=f"{RESULTS}/prepared",
        device=config.get("device", "cpu"),
    message:
        "train {wildcards.method} on {wildcards.setting}, seed {wildcards.seed} "
        "({wildcards.protocol} protocol, {wildcards.experiment}/{wildcards.variant})"
    threads: config.get("threads_per_job", 1)
    resources:
        mem_mb=1500,
        runtime=60,  # minutes; the largest default-grid run takes under a minute on one core
    benchmark:
        f"{RESULTS}/benchmarks/train/{{experiment}}/{{protocol}}/{{setting}}/{{method}}/{{variant}}/seed{{seed}}.tsv"
    log:
        f"{RESULTS}/logs/train/{{experiment}}/{{protocol}}/{{setting}}/{{method}}/{{variant}}/seed{{seed}}.log",
    conda:
        "../../environment.yml"
    shell:
        "fairbench train --setting {wildcards.setting} --method {wildcards.method} "
        "--protocol {wildcards.protocol} --seed {wildcards.seed} --out {params.out:q} "
        "--prepared {params.prepared:q} {params.overrides} --threads {threads} --device {params.device} "
        "{params.wandb} --wandb-dir {params.wandb_dir:q} --no-progress > {log:q} 2>&1 "
        "|| python -m fairbench.pipeline.plan record-failure --run {params.out:q} --exit-status $? "
        "--log {log:q} --setting {wildcards.setting} --method {wildcards.method} --seed {wildcards.seed} "
        "--protocol {wildcards.protocol} {params.overrides} >> {log:q} 2>&1"

# One job per (experiment, protocol, setting, method, variant) trains every seed in one process.


rule train:
    input:
        prepared=f"{RESULTS}/prepared/{{setting}}.parquet",
        meta=f"{RESULTS}/prepared/{{setting}}.json",
    output:
        metrics=expand(f"{RESULTS}/runs/{{{{experiment}}}}/{{{{protocol}}}}/{{{{setting}}}}/{{{{method}}}}/{{{{variant}}}}/seed{{seed}}/metrics.csv", seed=SEEDS),
        runs=expand(f"{RESULTS}/runs/{{{{experiment}}}}/{{{{protocol}}}}/{{{{setting}}}}/{{{{method}}}}/{{{{variant}}}}/seed{{seed}}/run.json", seed=SEEDS),
    params:
        seeds=",".join(str(s) for s in SEEDS),
        out=lambda wc: f"{RESULTS}/runs/{wc.experiment}/{wc.protocol}/{wc.setting}/{wc.method}/{wc.variant}/seed{{seed}}",
        overrides=train_overrides,
        wandb=wandb_mode_option(),
        wandb_dir=f"{RESULTS}/wandb",
        prepared=lambda wc, input: os.path.dirname(input.prepared),
    threads: config.get("threads_per_job", 1)
    resources:
        mem_mb=1500,
    benchmark:
        f"{RESULTS}/benchmarks/train/{{experiment}}/{{protocol}}/{{setting}}/{{method}}/{{variant}}.tsv"
    log:
        f"{RESULTS}/logs/train/{{experiment}}/{{protocol}}/{{setting}}/{{method}}/{{variant}}.log",
    conda:
        "../../environment.yml"
    shell:
        "fairbench train --setting {wildcards.setting} --method {wildcards.method} "
        "--protocol {wildcards.protocol} --seeds {params.seeds} --out '{params.out}' "
        "--prepared {params.prepared} {params.overrides} --threads {threads} "
        "{params.wandb} --wandb-dir {params.wandb_dir} --no-progress > {log} 2>&1"

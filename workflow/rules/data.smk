# Raw files: downloaded from the canonical URLs (or copied from a configured mirror), verified by sha256,
# cached once per results folder; then each setting's encoded table, prepared once.


rule fetch_dataset:
    output:
        manifest=f"{RESULTS}/raw/{{dataset}}.manifest.json",
    params:
        data_dir=f"{RESULTS}/raw",
        mirror=mirror_option(),
    log:
        f"{RESULTS}/logs/fetch/{{dataset}}.log",
    shell:
        "fairbench data fetch {wildcards.dataset} --data-dir {params.data_dir} {params.mirror} "
        "--manifest {output.manifest} > {log} 2>&1"


rule prepare_setting:
    input:
        manifest=lambda wc: f"{RESULTS}/raw/{dataset_of(wc.setting)}.manifest.json",
    output:
        table=f"{RESULTS}/prepared/{{setting}}.parquet",
        meta=f"{RESULTS}/prepared/{{setting}}.json",
    params:
        data_dir=f"{RESULTS}/raw",
        out=f"{RESULTS}/prepared",
    resources:
        mem_mb=2000,
    benchmark:
        f"{RESULTS}/benchmarks/prepare/{{setting}}.tsv"
    log:
        f"{RESULTS}/logs/prepare/{{setting}}.log",
    shell:
        "fairbench data prepare {wildcards.setting} --out {params.out} --data-dir {params.data_dir} > {log} 2>&1"

# Raw files: downloaded from the canonical URLs (or copied from a configured mirror), verified by sha256,
# cached once per results folder; then each setting's encoded table, prepared once.


rule fetch_dataset:
    output:
        manifest=f"{RESULTS}/raw/{{dataset}}.manifest.json",
    params:
        data_dir=lambda wc, output: os.path.dirname(output.manifest),
        mirror=mirror_option(),
    log:
        f"{RESULTS}/logs/fetch/{{dataset}}.log",
    conda:
        "../../environment.yml"
    shell:
        "fairbench data fetch {wildcards.dataset} --data-dir {params.data_dir:q} {params.mirror} "
        "--manifest {output.manifest:q} > {log:q} 2>&1"


rule prepare_setting:
    input:
        manifest=lambda wc: f"{RESULTS}/raw/{dataset_of(wc.setting)}.manifest.json",
        spec=lambda wc: spec_of(wc.setting),
    output:
        table=f"{RESULTS}/prepared/{{setting}}.parquet",
        meta=f"{RESULTS}/prepared/{{setting}}.json",
    params:
        data_dir=lambda wc, input: os.path.dirname(input.manifest),
        out=lambda wc, output: os.path.dirname(output.table),
    resources:
        mem_mb=2000,
        runtime=15,  # minutes; a setting takes seconds to prepare
    benchmark:
        f"{RESULTS}/benchmarks/prepare/{{setting}}.tsv"
    log:
        f"{RESULTS}/logs/prepare/{{setting}}.log",
    conda:
        "../../environment.yml"
    shell:
        "fairbench data prepare {wildcards.setting} --prepared {params.out:q} --data-dir {params.data_dir:q} > {log:q} 2>&1"

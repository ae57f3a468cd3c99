# FINDINGS.md: the paper's claims against the evidence of the runs (both protocols), with a verdict
# from the rule stated on the page; its numbers in aggregate/findings.csv and the page as HTML for the
# Snakemake report. Built from the run records, never by hand.
# Runs that support none of them (an experiment of one's own, any method set) get a note saying what
# they lack instead (fairbench.pipeline.plan note-lacking), and the pipeline goes on.


rule findings:
    input:
        table=rules.aggregate_runs.output.table,
    output:
        page=f"{RESULTS}/FINDINGS.md",
        data=f"{RESULTS}/aggregate/findings.csv",
        html=report(
            f"{RESULTS}/report/findings.html",
            caption="../report/findings.rst",
            category="Findings",
        ),
    log:
        f"{RESULTS}/logs/findings.log",
    conda:
        "../../environment.yml"
    shell:
        "status=0; fairbench report findings --collected {input.table:q} --out {output.page:q} --csv {output.data:q} "
        "--html {output.html:q} > {log:q} 2>&1 || status=$?; "
        "python -m fairbench.pipeline.plan note-lacking --exit-status $status --log {log:q} --markdown {output.page:q} "
        "--csv {output.data:q} --html {output.html:q} >> {log:q}"


# The report's entry page: links every table page, every figure and the findings, and lists what the
# runs could not support (open results/report/index.html in a browser).
rule report_index:
    input:
        tables=rules.tables.output,
        tables_html=rules.tables_html.output,
        figures=rules.figures.output,
        synthetic=rules.synthetic_figure.output,
        findings=rules.findings.output.html,
    output:
        f"{RESULTS}/report/index.html",
    log:
        f"{RESULTS}/logs/report_index.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m fairbench.reports.report_index --out {output:q} --tables {input.tables_html:q} "
        "--tables-source {input.tables:q} --figures {input.figures:q} {input.synthetic:q} "
        "--findings {input.findings:q} > {log:q} 2>&1"


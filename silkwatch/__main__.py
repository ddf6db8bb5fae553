from silkwatch.cli import cli

cli()

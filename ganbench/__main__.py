from ganbench.cli import run

run()

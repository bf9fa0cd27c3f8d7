from tracetui.report.cli import entry

entry()

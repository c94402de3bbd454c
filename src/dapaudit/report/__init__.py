"""Reports: report/model.py builds plain data, report/render.py turns it into HTML and PDF."""

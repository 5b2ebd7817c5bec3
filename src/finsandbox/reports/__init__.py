"""Rendering: HTML from Jinja2 templates, PDF with WeasyPrint, charts as server-side SVG."""

"""The built-in job kinds, one file each; `registry.job_kinds` imports every public module here."""

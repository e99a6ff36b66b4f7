# nbgrader's settings for the kit's JupyterLab in an instructor's environment: `make dev` copies this file into
# .venv/etc/jupyter, where nbgrader's menus look for their configuration (without one, each logs "No
# nbgrader_config.py file found"). A course run with nbgrader lives in a folder of its own, as
# notebooks/assignments/README.md describes; an nbgrader_config.py there is read after this one and overrides it.
c = get_config()  # noqa: F821 (nbgrader defines get_config when it reads this file)

# The course the assignments in notebooks/assignments/ belong to, for nbgrader's exchange and assignment list.
c.CourseDirectory.course_id = "llama-lab"

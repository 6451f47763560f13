"""Steps a job can run besides loading: a shell script (`etl_framework.steps.shell`)."""

# The Airflow image with the pipeline's Python packages baked in (no _PIP_ADDITIONAL_REQUIREMENTS).
FROM apache/airflow:3.3.2

COPY requirements.txt /tmp/requirements.txt
# Naming the image's own Airflow version keeps pip from moving it.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/requirements.txt

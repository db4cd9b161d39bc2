# The Airflow image with the pipeline's Python packages baked in (no _PIP_ADDITIONAL_REQUIREMENTS).
FROM apache/airflow:3.3.2

COPY requirements.txt /tmp/requirements.txt
# Naming the image's own Airflow version keeps pip from moving it.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/requirements.txt

# The pipeline's package, installed editable from /opt/airflow/src: the image works on its own (a
# worker on another machine), and compose mounts ./src over it so that a change needs no rebuild.
COPY --chown=airflow:0 pyproject.toml /opt/airflow/pyproject.toml
COPY --chown=airflow:0 src /opt/airflow/src
COPY --chown=airflow:0 datasets /opt/airflow/datasets
# The build's by-product in src/ would be a second copy of the package's metadata (the plugin found twice).
RUN pip install --no-cache-dir --no-deps --editable /opt/airflow && rm -rf /opt/airflow/src/*.egg-info

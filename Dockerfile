# Production image: the same gunicorn / celery commands that `make run` and the tests use.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PORTAL_VAR_DIR=/var/lib/portal PORTAL_BIND=0.0.0.0:8000

# WeasyPrint renders PDF reports with Pango; git is used to work on the Substrate repository.
RUN apt-get update && apt-get install -y --no-install-recommends \
        git libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /app portal \
    && install -d -o portal -g portal /var/lib/portal

WORKDIR /app
COPY --chown=portal:portal pyproject.toml README.md ./
COPY --chown=portal:portal accessportal ./accessportal
COPY --chown=portal:portal vendors ./vendors
COPY --chown=portal:portal approvals ./approvals
COPY --chown=portal:portal provisioning ./provisioning
RUN pip install .
COPY --chown=portal:portal . .
RUN DJANGO_SECRET_KEY=build-only python manage.py collectstatic --noinput --verbosity 0

USER portal
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["gunicorn", "-c", "gunicorn.conf.py"]

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WEB_CONCURRENCY=3

WORKDIR /app
RUN useradd --create-home --uid 1000 uplift
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY --chown=uplift:uplift . .
# collectstatic needs settings that import; the real secret comes from the environment.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input -v 0
USER uplift
EXPOSE 8000
# gunicorn runs WEB_CONCURRENCY processes: set it when the container runs to change it.
CMD ["gunicorn", "uplift.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]

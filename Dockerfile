# Organization mode: gunicorn app servers sharing one PostgreSQL (set BALLOT_DATABASE_URL and
# BALLOT_SECRET_KEY; run `ballot db upgrade` once per release before starting the servers).
FROM python:3.11-slim-bookworm
RUN useradd --system --create-home ballot
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ballot ballot
COPY templates templates
COPY static static
COPY examples examples
RUN pip install --no-cache-dir .
USER ballot
ENV BALLOT_INSTANCE=/home/ballot/instance
EXPOSE 8000
CMD ["ballot", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "4", "--threads", "8"]

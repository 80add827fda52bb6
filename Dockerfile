# Organization mode: app servers (`ballot serve`: gunicorn + its buffering worker) sharing one
# PostgreSQL, behind a reverse proxy such as deploy/nginx.conf.
#   docker run -e BALLOT_DATABASE_URL=postgresql+psycopg://ballot@db/ballot \
#              -e BALLOT_TRUSTED_PROXIES=1 -v ballot-secrets:/data -p 8000:8000 ballot
# BALLOT_TRUSTED_PROXIES: how many reverse proxies stand in front (1 behind one nginx/Caddy; 0 only
# when clients connect directly), so each voter keeps their own address for the failure limits.
# The instance secret comes from the /data volume (secret.key made once by `ballot init`) or from
# BALLOT_SECRET_KEY; it is never baked into the image. scripts/entrypoint.sh is what CI tests.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-wqy-zenhei fonts-dejavu-core \
      fonts-noto-cjk fonts-hanazono fonts-babelstone-han libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home ballot \
 && mkdir /data && chown ballot /data
WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY ballot ballot
COPY templates templates
COPY static static
COPY examples examples
COPY scripts/entrypoint.sh /usr/local/bin/ballot-entrypoint
RUN pip install --no-cache-dir .
USER ballot
ENV BALLOT_INSTANCE=/data
VOLUME /data
EXPOSE 8000
CMD ["ballot-entrypoint"]

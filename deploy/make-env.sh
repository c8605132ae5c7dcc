#!/bin/sh
# `make env`: the secrets of the compose stack, generated once and never committed:
#   .env                          passwords of RabbitMQ, Redis, Grafana (compose reads it)
#   deploy/secrets/signing-key.pem  the Ed25519 key that signs access tokens (a docker secret)
#   deploy/secrets/admin-password   the first admin's password (a docker secret)
# Usage: deploy/make-env.sh [DIR]   (DIR: where .env and deploy/secrets go; default: here)
# Existing files are kept: delete one to generate it again.
set -eu
root=${1:-.}
secrets="$root/deploy/secrets"
mkdir -p "$secrets"
chmod 700 "$secrets"

token() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

if [ -e "$root/.env" ]; then
  echo "keeping $root/.env"
else
  umask 077
  cat > "$root/.env" <<ENV
# Secrets of the Huddle compose stack, made by \`make env\`. Never commit this file.
RABBITMQ_USER=huddle
RABBITMQ_PASSWORD=$(token)
REDIS_PASSWORD=$(token)
GRAFANA_ADMIN_PASSWORD=$(token)
# Optional (defaults in docker-compose.yml):
# HUDDLE_ADMIN_USER=admin
# HUDDLE_HTTP_PORT=80
# HUDDLE_HTTPS_PORT=443
# HUDDLE_BEHIND_TLS=true
# HUDDLE_SUBNET=172.30.0.0/24
ENV
  echo "wrote $root/.env"
fi

# The services run as uid 10001 and read the secrets through bind mounts: readable files in
# a directory only the owner can list.
if [ ! -e "$secrets/admin-password" ]; then
  token > "$secrets/admin-password"
  chmod 644 "$secrets/admin-password"
  echo "wrote $secrets/admin-password (log in as admin with it)"
fi
if [ ! -e "$secrets/signing-key.pem" ]; then
  openssl genpkey -algorithm ed25519 -out "$secrets/signing-key.pem"
  chmod 644 "$secrets/signing-key.pem"
  echo "wrote $secrets/signing-key.pem"
fi

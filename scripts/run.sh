#!/usr/bin/env bash
# `make run`: starts `aigw run`. With CONFIG=file (or several paths, space-separated), those. With OPENAI_API_KEY set, the
# configuration built from the environment (as upstream `aigw run`). With neither, the gateway in
# front of the bundled fake provider, so a first streamed answer needs no account.
set -euo pipefail
cd "$(dirname "$0")/.."
AIGW=${AIGW:-build/aigw}
PORT=1975
ADMIN_PORT=${ADMIN_PORT:-1064}

examples() {
  cat <<EOT

Try it (in another terminal):

  curl -N http://127.0.0.1:$PORT/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"model":"$1","stream":true,"messages":[{"role":"user","content":"Say hello"}]}'

  # with the official openai SDK (npm i openai):
  node --input-type=module -e "
    import OpenAI from 'openai';
    const client = new OpenAI({ baseURL: 'http://127.0.0.1:$PORT/v1', apiKey: 'unused' });
    const stream = await client.chat.completions.create({ model: '$1', stream: true,
      messages: [{ role: 'user', content: 'Say hello' }] });
    for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? '');
    console.log();"

Admin: http://127.0.0.1:$ADMIN_PORT/health and /config_dump. Stop with Ctrl-C.

EOT
}

if [[ -n "${CONFIG:-}" ]]; then
  if [[ -e "$CONFIG" ]]; then paths=("$CONFIG"); else read -ra paths <<<"$CONFIG"; fi
  echo "aigw: serving ${paths[*]}"
  # The port of the first Gateway listener and a model the routes match, when the files have
  # them (`aigw example` prints port=N and model=NAME); otherwise generic placeholders.
  model="your-model"
  while IFS='=' read -r key value; do
    case "$key" in
    port) PORT=$value ;;
    model) model=$value ;;
    esac
  done < <("$AIGW" example "${paths[@]}" 2>/dev/null || true)
  examples "$model"
  exec "$AIGW" run "${paths[@]}" --admin-port "$ADMIN_PORT"
fi

if [[ -n "${AZURE_OPENAI_API_KEY:-}" ]]; then
  echo "aigw: AZURE_OPENAI_API_KEY is set: routing every model to ${AZURE_OPENAI_ENDPOINT:-(AZURE_OPENAI_ENDPOINT unset)}"
  examples "gpt-4o-mini"
  exec "$AIGW" run --admin-port "$ADMIN_PORT"
fi
if [[ -n "${OPENAI_API_KEY:-}" ]]; then
  echo "aigw: OPENAI_API_KEY is set: routing every model to ${OPENAI_BASE_URL:-https://api.openai.com/v1}"
  examples "gpt-4o-mini"
  exec "$AIGW" run --admin-port "$ADMIN_PORT"
fi
if [[ -n "${ANTHROPIC_API_KEY:-}" ]]; then
  echo "aigw: ANTHROPIC_API_KEY is set: routing every model to ${ANTHROPIC_BASE_URL:-https://api.anthropic.com/v1}"
  examples "claude-sonnet-4-5"
  exec "$AIGW" run --admin-port "$ADMIN_PORT"
fi

echo "aigw: no OPENAI_API_KEY, AZURE_OPENAI_API_KEY or ANTHROPIC_API_KEY, so this starts the gateway"
echo "      in front of the bundled FAKE provider (build/testupstream): answers are canned, not"
echo "      from a real model. Set one of them (and optionally OPENAI_BASE_URL) to use a real provider."
fifo=$(mktemp -u)
mkfifo "$fifo"
build/testupstream --port 0 >"$fifo" &
UP_PID=$!
trap 'kill $UP_PID 2>/dev/null || true; rm -f "$fifo"' EXIT
read -r line <"$fifo"
UP_PORT=${line##*:}
cat "$fifo" >/dev/null &
echo "aigw: fake provider listening on 127.0.0.1:$UP_PORT"
examples "gpt-4o-mini"
OPENAI_API_KEY=sk-fake-local OPENAI_BASE_URL="http://127.0.0.1:$UP_PORT/v1" \
  "$AIGW" run --admin-port "$ADMIN_PORT"

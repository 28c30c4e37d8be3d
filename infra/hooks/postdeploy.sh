#!/bin/sh
# azd postdeploy hook: delivers blob-created events to the app's Event Grid blob triggers.
# Flex Consumption has no polling blob trigger; the event subscription's webhook needs the app's
# blobs_extension system key, which exists only once the deployed app runs, hence a hook.
# DMF_BLOB_TRIGGERS lists "function=container" pairs (space separated; empty: skip); the default is
# checked against the functions the app registers by test/infra/cross-check.test.ts.
# It uses the Azure CLI, which has its own sign-in: `az login` (azd's `azd auth login` does not sign
# in az). Any failure stops `azd up` with what to do (azure.yaml: continueOnError: false); the
# behaviour is tested with a stand-in az by test/infra/postdeploy-hook.test.ts.
set -eu

fail() {
  printf '\npostdeploy: %s\n' "$*" >&2
  printf 'Blob triggers fire only through these Event Grid subscriptions. Fix the above, then run: azd hooks run postdeploy\n' >&2
  exit 1
}

# Prints stdin with every occurrence of the key replaced, so az's messages never show it.
redact() {
  awk -v k="${key:-}" '{ if (k != "") while ((i = index($0, k)) > 0) $0 = substr($0, 1, i - 1) "***" substr($0, i + length(k)); print }'
}

triggers="${DMF_BLOB_TRIGGERS-importBlobTrigger=dmf-inbound recurringImportBlobTrigger=dmf-recurring-inbound}"
if [ -z "$triggers" ]; then
  echo "DMF_BLOB_TRIGGERS is empty: no Event Grid subscription to create."
  exit 0
fi
for name in AZURE_RESOURCE_GROUP AZURE_FUNCTION_APP_NAME AZURE_FUNCTION_APP_URL AZURE_EVENTGRID_SYSTEM_TOPIC_NAME; do
  eval "value=\${$name:-}"
  [ -n "$value" ] || fail "$name is not set: run the hook through azd (azd deploy, or azd hooks run postdeploy) after azd provision."
done
rg="$AZURE_RESOURCE_GROUP"
app="$AZURE_FUNCTION_APP_NAME"
url="$AZURE_FUNCTION_APP_URL"
topic="$AZURE_EVENTGRID_SYSTEM_TOPIC_NAME"
subscription="${AZURE_SUBSCRIPTION_ID:-}"
wait_seconds="${DMF_HOOK_WAIT_SECONDS:-20}"
attempts="${DMF_HOOK_KEY_ATTEMPTS:-9}"

command -v az >/dev/null 2>&1 ||
  fail "the Azure CLI (az) is not installed (https://aka.ms/azcli): this hook needs it to subscribe the blob triggers to blob-created events."

# az in the subscription azd deployed to (az's default subscription may be another one).
azs() {
  if [ -n "$subscription" ]; then az "$@" --subscription "$subscription"; else az "$@"; fi
}

errors=$(mktemp)
trap 'rm -f "$errors"' EXIT

if ! azs account show --query id -o tsv >/dev/null 2>"$errors"; then
  fail "the Azure CLI is not signed in${subscription:+ to subscription $subscription}. Run: az login${subscription:+ && az account set --subscription $subscription}
(azd auth login signs in azd only; this hook runs az.) az said: $(redact <"$errors")"
fi

# The key appears a little after the host first starts with an Event Grid blob trigger.
key=""
attempt=1
while :; do
  key=$(azs functionapp keys list -g "$rg" -n "$app" --query "systemKeys.blobs_extension" -o tsv 2>"$errors") || key=""
  [ -n "$key" ] && break
  if [ "$attempt" -ge "$attempts" ]; then
    fail "no blobs_extension key on $app after $attempts attempts. Is the app running (curl $url/api/health) and does it register a blob trigger with source 'EventGrid'? az said: $(redact <"$errors")"
  fi
  echo "waiting for the blobs_extension key of $app (attempt $attempt/$attempts)..."
  attempt=$((attempt + 1))
  sleep "$wait_seconds"
done

for pair in $triggers; do
  fn="${pair%%=*}"
  container="${pair#*=}"
  if [ -z "$fn" ] || [ -z "$container" ] || [ "$fn" = "$pair" ]; then
    fail "DMF_BLOB_TRIGGERS entry \"$pair\" is not function=container."
  fi
  echo "Event Grid: blob-created events of container $container -> function $fn"
  if ! azs eventgrid system-topic event-subscription create \
    --resource-group "$rg" \
    --system-topic-name "$topic" \
    --name "$fn" \
    --endpoint-type webhook \
    --endpoint "$url/runtime/webhooks/blobs?functionName=Host.Functions.$fn&code=$key" \
    --included-event-types Microsoft.Storage.BlobCreated \
    --subject-begins-with "/blobServices/default/containers/$container/" \
    --output none 2>"$errors"; then
    fail "could not subscribe function $fn to blob-created events of container $container (system topic $topic).
If az reports a failed validation handshake, the app did not answer Event Grid: check that it runs (curl $url/api/health) and registers $fn.
If it reports an authorization error, your account needs Contributor (or EventGrid EventSubscription Contributor) on resource group $rg. az said: $(redact <"$errors")"
  fi
done
echo "Event Grid: every blob trigger is subscribed."

#!/bin/sh
# azd postdeploy hook: delivers blob-created events to the app's Event Grid blob triggers.
# Flex Consumption has no polling blob trigger; the event subscription's webhook needs the app's
# blobs_extension system key, which exists only once the deployed app runs, hence a hook.
# DMF_BLOB_TRIGGERS lists "function=container" pairs (space separated; empty: skip); the default is
# checked against the functions the app registers by test/infra/cross-check.test.ts.
set -eu

triggers="${DMF_BLOB_TRIGGERS-importBlobTrigger=dmf-inbound recurringImportBlobTrigger=dmf-recurring-inbound}"
if [ -z "$triggers" ]; then
  echo "DMF_BLOB_TRIGGERS is empty: no Event Grid subscription to create."
  exit 0
fi
rg="${AZURE_RESOURCE_GROUP:?run through azd (azd deploy / azd hooks run postdeploy)}"
app="${AZURE_FUNCTION_APP_NAME:?missing AZURE_FUNCTION_APP_NAME}"
url="${AZURE_FUNCTION_APP_URL:?missing AZURE_FUNCTION_APP_URL}"
topic="${AZURE_EVENTGRID_SYSTEM_TOPIC_NAME:?missing AZURE_EVENTGRID_SYSTEM_TOPIC_NAME}"

# The key appears a little after the host first starts with an Event Grid blob trigger.
key=""
for attempt in 1 2 3 4 5 6; do
  key=$(az functionapp keys list -g "$rg" -n "$app" --query "systemKeys.blobs_extension" -o tsv 2>/dev/null || true)
  [ -n "$key" ] && break
  echo "waiting for the blobs_extension key of $app (attempt $attempt/6)..."
  sleep 20
done
if [ -z "$key" ]; then
  echo "No blobs_extension key on $app: does it register a blob trigger with source 'EventGrid'? Rerun: azd hooks run postdeploy" >&2
  exit 1
fi

for pair in $triggers; do
  fn="${pair%%=*}"
  container="${pair#*=}"
  echo "Event Grid: blob-created events of container $container -> function $fn"
  az eventgrid system-topic event-subscription create \
    --resource-group "$rg" \
    --system-topic-name "$topic" \
    --name "$fn" \
    --endpoint-type webhook \
    --endpoint "$url/runtime/webhooks/blobs?functionName=Host.Functions.$fn&code=$key" \
    --included-event-types Microsoft.Storage.BlobCreated \
    --subject-begins-with "/blobServices/default/containers/$container/" \
    --output none
done

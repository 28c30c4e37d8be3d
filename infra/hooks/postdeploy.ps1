# azd postdeploy hook (Windows): same as postdeploy.sh. Delivers blob-created events to the app's
# Event Grid blob triggers; DMF_BLOB_TRIGGERS lists "function=container" pairs (space separated).
$ErrorActionPreference = 'Stop'

$triggers = if ($env:DMF_BLOB_TRIGGERS) { $env:DMF_BLOB_TRIGGERS } else { 'importBlobTrigger=dmf-inbound recurringImportBlobTrigger=dmf-recurring-inbound' }
$rg = $env:AZURE_RESOURCE_GROUP
$app = $env:AZURE_FUNCTION_APP_NAME
$url = $env:AZURE_FUNCTION_APP_URL
$topic = $env:AZURE_EVENTGRID_SYSTEM_TOPIC_NAME
if (-not $rg -or -not $app -or -not $url -or -not $topic) { throw 'Run through azd (azd deploy / azd hooks run postdeploy).' }

$key = ''
foreach ($attempt in 1..6) {
  $key = az functionapp keys list -g $rg -n $app --query 'systemKeys.blobs_extension' -o tsv 2>$null
  if ($key) { break }
  Write-Host "waiting for the blobs_extension key of $app (attempt $attempt/6)..."
  Start-Sleep -Seconds 20
}
if (-not $key) { throw "No blobs_extension key on ${app}: does it register a blob trigger with source 'EventGrid'? Rerun: azd hooks run postdeploy" }

foreach ($pair in $triggers.Split(' ', [System.StringSplitOptions]::RemoveEmptyEntries)) {
  $fn, $container = $pair.Split('=', 2)
  Write-Host "Event Grid: blob-created events of container $container -> function $fn"
  az eventgrid system-topic event-subscription create `
    --resource-group $rg `
    --system-topic-name $topic `
    --name $fn `
    --endpoint-type webhook `
    --endpoint "$url/runtime/webhooks/blobs?functionName=Host.Functions.$fn&code=$key" `
    --included-event-types Microsoft.Storage.BlobCreated `
    --subject-begins-with "/blobServices/default/containers/$container/" `
    --output none
  if ($LASTEXITCODE -ne 0) { throw "az eventgrid failed for $fn" }
}

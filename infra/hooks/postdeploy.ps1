# azd postdeploy hook (Windows): same as postdeploy.sh. Delivers blob-created events to the app's
# Event Grid blob triggers; DMF_BLOB_TRIGGERS lists "function=container" pairs (space separated).
# It uses the Azure CLI, which has its own sign-in: `az login` (azd's `azd auth login` does not sign
# in az). Any failure stops `azd up` with what to do (azure.yaml: continueOnError: false).
$ErrorActionPreference = 'Stop'

function Fail([string]$message) {
  [Console]::Error.WriteLine("`npostdeploy: $message")
  [Console]::Error.WriteLine('Blob triggers fire only through these Event Grid subscriptions. Fix the above, then run: azd hooks run postdeploy')
  exit 1
}

# az's messages without the key.
function Redact([string]$text) {
  if ($script:key) { return $text.Replace($script:key, '***') }
  return $text
}

# az in the subscription azd deployed to; returns @{ ok; out; err }.
function Invoke-Az([string[]]$arguments) {
  if ($env:AZURE_SUBSCRIPTION_ID) { $arguments += @('--subscription', $env:AZURE_SUBSCRIPTION_ID) }
  $errFile = New-TemporaryFile
  try {
    $out = & az @arguments 2> $errFile.FullName
    $ok = $LASTEXITCODE -eq 0
    return @{ ok = $ok; out = ($out -join "`n").Trim(); err = (Get-Content -Raw $errFile.FullName) }
  } finally {
    Remove-Item -Force $errFile.FullName
  }
}

$triggers = if ($null -ne $env:DMF_BLOB_TRIGGERS) { $env:DMF_BLOB_TRIGGERS } else { 'importBlobTrigger=dmf-inbound recurringImportBlobTrigger=dmf-recurring-inbound' }
if (-not $triggers.Trim()) { Write-Host 'DMF_BLOB_TRIGGERS is empty: no Event Grid subscription to create.'; exit 0 }
foreach ($name in 'AZURE_RESOURCE_GROUP', 'AZURE_FUNCTION_APP_NAME', 'AZURE_FUNCTION_APP_URL', 'AZURE_EVENTGRID_SYSTEM_TOPIC_NAME') {
  if (-not [Environment]::GetEnvironmentVariable($name)) { Fail "$name is not set: run the hook through azd (azd deploy, or azd hooks run postdeploy) after azd provision." }
}
$rg = $env:AZURE_RESOURCE_GROUP
$app = $env:AZURE_FUNCTION_APP_NAME
$url = $env:AZURE_FUNCTION_APP_URL
$topic = $env:AZURE_EVENTGRID_SYSTEM_TOPIC_NAME
$waitSeconds = if ($env:DMF_HOOK_WAIT_SECONDS) { [int]$env:DMF_HOOK_WAIT_SECONDS } else { 20 }
$attempts = if ($env:DMF_HOOK_KEY_ATTEMPTS) { [int]$env:DMF_HOOK_KEY_ATTEMPTS } else { 9 }
$script:key = ''

if (-not (Get-Command az -ErrorAction SilentlyContinue)) {
  Fail 'the Azure CLI (az) is not installed (https://aka.ms/azcli): this hook needs it to subscribe the blob triggers to blob-created events.'
}

$account = Invoke-Az @('account', 'show', '--query', 'id', '-o', 'tsv')
if (-not $account.ok) {
  $login = if ($env:AZURE_SUBSCRIPTION_ID) { "az login && az account set --subscription $($env:AZURE_SUBSCRIPTION_ID)" } else { 'az login' }
  Fail "the Azure CLI is not signed in. Run: $login`n(azd auth login signs in azd only; this hook runs az.) az said: $(Redact $account.err)"
}

# The key appears a little after the host first starts with an Event Grid blob trigger.
for ($attempt = 1; ; $attempt++) {
  $keys = Invoke-Az @('functionapp', 'keys', 'list', '-g', $rg, '-n', $app, '--query', 'systemKeys.blobs_extension', '-o', 'tsv')
  if ($keys.ok -and $keys.out) { $script:key = $keys.out; break }
  if ($attempt -ge $attempts) {
    Fail "no blobs_extension key on $app after $attempts attempts. Is the app running (curl $url/api/health) and does it register a blob trigger with source 'EventGrid'? az said: $(Redact $keys.err)"
  }
  Write-Host "waiting for the blobs_extension key of $app (attempt $attempt/$attempts)..."
  Start-Sleep -Seconds $waitSeconds
}

foreach ($pair in $triggers.Split(' ', [System.StringSplitOptions]::RemoveEmptyEntries)) {
  $fn, $container = $pair.Split('=', 2)
  if (-not $fn -or -not $container) { Fail "DMF_BLOB_TRIGGERS entry `"$pair`" is not function=container." }
  Write-Host "Event Grid: blob-created events of container $container -> function $fn"
  $created = Invoke-Az @('eventgrid', 'system-topic', 'event-subscription', 'create',
    '--resource-group', $rg,
    '--system-topic-name', $topic,
    '--name', $fn,
    '--endpoint-type', 'webhook',
    '--endpoint', "$url/runtime/webhooks/blobs?functionName=Host.Functions.$fn&code=$($script:key)",
    '--included-event-types', 'Microsoft.Storage.BlobCreated',
    '--subject-begins-with', "/blobServices/default/containers/$container/",
    '--output', 'none')
  if (-not $created.ok) {
    Fail ("could not subscribe function $fn to blob-created events of container $container (system topic $topic).`n" +
      "If az reports a failed validation handshake, the app did not answer Event Grid: check that it runs (curl $url/api/health) and registers $fn.`n" +
      "If it reports an authorization error, your account needs Contributor (or EventGrid EventSubscription Contributor) on resource group $rg. az said: $(Redact $created.err)")
  }
}
Write-Host 'Event Grid: every blob trigger is subscribed.'

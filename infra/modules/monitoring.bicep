// Log Analytics + workspace-based Application Insights (local auth off: the app ingests with its
// identity), and an alert on failed function executions.

@description('Required. Log Analytics workspace name.')
param logAnalyticsName string

@description('Required. Application Insights name.')
param applicationInsightsName string

@description('Required. Region.')
param location string

@description('Optional. Tags.')
param tags object = {}

@description('Optional. E-mail address alerted on failures. Empty: the alert fires without notifying anyone.')
param alertEmail string = ''

@description('Optional. Days logs are kept.')
param retentionInDays int = 30

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-${applicationInsightsName}'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'dmf-alerts'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// Every failed function execution (HTTP, trigger, orchestrator, activity) is a failed request;
// requests are excluded from sampling in host.json, so none is missed.
resource failureAlert 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = {
  name: 'alert-${applicationInsightsName}-failures'
  location: location
  tags: tags
  properties: {
    displayName: 'dmf-functions: failed executions'
    description: 'At least one function execution failed in the last 15 minutes. See README.md "Operate".'
    severity: 2
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'requests | where success == false'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: empty(alertEmail) ? [] : [actionGroup.id]
    }
  }
}

@description('Application Insights name.')
output applicationInsightsName string = applicationInsights.name
@description('Application Insights connection string (not a secret: ingestion needs Entra auth).')
output applicationInsightsConnectionString string = applicationInsights.properties.ConnectionString
@description('Log Analytics workspace name.')
output logAnalyticsName string = logAnalytics.name

// Service Bus: the commands queue and the events topic. Local (SAS key) auth is off.

@description('Required. Namespace name.')
param name string

@description('Required. Region.')
param location string

@description('Optional. Tags.')
param tags object = {}

@description('Required. Queues, as [{ name, maxDeliveryCount, lockDuration }].')
param queues array

@description('Required. Topics, as [{ name, subscriptions: [names] }].')
param topics array

resource serviceBusNamespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: name
  location: location
  tags: tags
  sku: {
    // Topics need Standard.
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
  }
}

// A message that keeps failing goes to the dead-letter queue after maxDeliveryCount attempts
// (the Functions trigger abandons it on every failure) instead of being retried forever.
resource queueResources 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = [
  for queue in queues: {
    parent: serviceBusNamespace
    name: queue.name
    properties: {
      maxDeliveryCount: queue.maxDeliveryCount
      lockDuration: queue.lockDuration
      deadLetteringOnMessageExpiration: true
      defaultMessageTimeToLive: 'P14D'
    }
  }
]

resource topicResources 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = [
  for topic in topics: {
    parent: serviceBusNamespace
    name: topic.name
    properties: {
      defaultMessageTimeToLive: 'P14D'
    }
  }
]

// One subscription per (topic, subscription) pair, flattened so each is its own resource.
var topicSubscriptions = flatten(map(topics, t => map(t.subscriptions, s => { topic: t.name, name: s })))

resource subscriptionResources 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = [
  for sub in topicSubscriptions: {
    name: '${name}/${sub.topic}/${sub.name}'
    properties: {
      maxDeliveryCount: 10
      deadLetteringOnMessageExpiration: true
      defaultMessageTimeToLive: 'P14D'
    }
    dependsOn: [
      topicResources
    ]
  }
]

@description('Namespace name.')
output name string = serviceBusNamespace.name
@description('Host name, e.g. sb-abc.servicebus.windows.net (the ServiceBusConnection__fullyQualifiedNamespace).')
output fullyQualifiedNamespace string = split(split(serviceBusNamespace.properties.serviceBusEndpoint, '//')[1], ':')[0]

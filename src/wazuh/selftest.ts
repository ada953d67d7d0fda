import {InvalidInputError} from '../errors.js'
import {SELFTEST_GROUP} from './integration-groups.js'

/**
 * The self-test event. `mispwazuh verify` sends it as one datagram to the manager's queue
 * socket (/var/ossec/queue/sockets/queue), the way Wazuh's own integrations send results:
 *
 *     1:mispwazuh-selftest:{"mispwazuh":{"selftest":"1","canary_domain":"<domain>"}}
 *
 * `1` is the queue type of a log line (LOCALFILE_MQ), `mispwazuh-selftest` becomes the alert's
 * `location`, and the stock json decoder decodes the rest. The self-test rule in local_rules.xml
 * matches decoded_as json, that location and `mispwazuh.selftest` = 1, and puts the alert in
 * group mispwazuh_selftest, which the integration block lists. The integration then looks up
 * `data.mispwazuh.canary_domain` in MISP.
 */
export const SELFTEST_LOCATION = 'mispwazuh-selftest'

export {SELFTEST_GROUP}

const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/i

/** Returns the self-test message for the queue socket. Raises InvalidInputError for a value that is not a DNS name. */
export function buildSelftestEvent(canaryDomain: string): string {
  if (!DOMAIN.test(canaryDomain)) {
    throw new InvalidInputError(`Invalid canary domain "${canaryDomain}": expected a DNS name such as canary-1a2b.example.`)
  }

  const payload = {mispwazuh: {selftest: '1', canary_domain: canaryDomain}}
  return `1:${SELFTEST_LOCATION}:${JSON.stringify(payload)}`
}

/** The `<location>` value of the self-test rule: an osmatch pattern for exactly the self-test location. */
export const SELFTEST_LOCATION_PATTERN = `^${SELFTEST_LOCATION}$`

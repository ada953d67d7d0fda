import {buildSelftestEvent} from '../wazuh/selftest.js'

export {buildSelftestEvent}

/** The agent the Sysmon canary claims to come from: the manager's own id, with a name that says what it is. */
export const CANARY_AGENT = {id: '000', name: 'mispwazuh-canary'} as const

const SYSMON_PROVIDER = "<Provider Name='Microsoft-Windows-Sysmon' Guid='{5770385f-c22a-43e0-bf4c-06f5698ffbd9}'/>"

function escapeXml(value: string): string {
  return value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll("'", '&apos;')
}

/**
 * Builds a Sysmon event 22 (DNS query) for `domain` the way wazuh-remoted hands a Windows
 * agent's eventchannel event to analysisd: queue type `f`, the location
 * `[<id>] (<name>) any->EventChannel`, and JSON with the rendered `Message` and the event's XML
 * in `Event`. analysisd's windows_eventchannel decoder reads the XML into data.win.*.
 * NOTE: this form was checked against the Wazuh 4.12 source and the test stand-in, not against a
 * running manager.
 */
export function buildSysmonDnsEvent(domain: string, now: Date = new Date()): string {
  const utcTime = now.toISOString().replace('T', ' ').replace('Z', '')
  const data: Array<[string, string]> = [
    ['RuleName', '-'],
    ['UtcTime', utcTime],
    ['ProcessGuid', '{6b3f2d1e-0000-4000-8000-6d6973707761}'],
    ['ProcessId', '4242'],
    ['QueryName', domain],
    ['QueryStatus', '9003'],
    ['QueryResults', '-'],
    ['Image', 'C:\\Windows\\System32\\nslookup.exe'],
    ['User', 'NT AUTHORITY\\SYSTEM'],
  ]

  const xml = [
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>",
    SYSMON_PROVIDER,
    '<EventID>22</EventID><Version>5</Version><Level>4</Level><Task>22</Task><Opcode>0</Opcode>',
    `<Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime='${now.toISOString()}'/>`,
    "<EventRecordID>1</EventRecordID><Correlation/><Execution ProcessID='3000' ThreadID='3001'/>",
    `<Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>${CANARY_AGENT.name}</Computer><Security UserID='S-1-5-18'/>`,
    '</System><EventData>',
    ...data.map(([name, value]) => `<Data Name='${name}'>${escapeXml(value)}</Data>`),
    '</EventData></Event>',
  ].join('')

  const message = ['Dns query:', ...data.map(([name, value]) => `${name}: ${value}`)].join('\r\n')
  const location = `[${CANARY_AGENT.id}] (${CANARY_AGENT.name}) any->EventChannel`
  return `f:${location.replaceAll('|', '||').replaceAll(':', '|:')}:${JSON.stringify({Message: message, Event: xml})}`
}

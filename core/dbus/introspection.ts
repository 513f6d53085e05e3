// Reads the interface descriptions from our checked-in introspection XML. The XML is the
// contract (DESIGN §4): the service validates incoming signatures against it and answers
// Introspect with it, so the two cannot disagree.

export interface ArgSpec { name: string; type: string }
export interface MethodSpec { name: string; inArgs: ArgSpec[]; outArgs: ArgSpec[]; inSignature: string; outSignature: string }
export interface PropertySpec { name: string; type: string; access: 'read' | 'write' | 'readwrite' }
export interface SignalSpec { name: string; args: ArgSpec[]; signature: string }
export interface InterfaceSpec {
  name: string;
  methods: Map<string, MethodSpec>;
  properties: Map<string, PropertySpec>;
  signals: Map<string, SignalSpec>;
  /** The <interface> element as text, comments removed, for Introspect replies. */
  xml: string;
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\b${name}="([^"]*)"`).exec(tag);
  return m?.[1];
}

function parseArgs(body: string, defaultDirection: 'in' | 'out'): { inArgs: ArgSpec[]; outArgs: ArgSpec[] } {
  const inArgs: ArgSpec[] = [];
  const outArgs: ArgSpec[] = [];
  for (const m of body.matchAll(/<arg\b[^>]*>/g)) {
    const tag = m[0];
    const spec = { name: attr(tag, 'name') ?? '', type: attr(tag, 'type') ?? '' };
    if (!spec.type) throw new Error(`introspection: <arg> without type: ${tag}`);
    ((attr(tag, 'direction') ?? defaultDirection) === 'out' ? outArgs : inArgs).push(spec);
  }
  return { inArgs, outArgs };
}

/** Parse every <interface> in an introspection document. */
export function parseIntrospection(xmlText: string): Map<string, InterfaceSpec> {
  const text = xmlText.replace(/<!--[\s\S]*?-->/g, '');
  const result = new Map<string, InterfaceSpec>();
  for (const im of text.matchAll(/<interface\s+name="([^"]+)"\s*>([\s\S]*?)<\/interface>/g)) {
    const [whole, name, body] = im as unknown as [string, string, string];
    const spec: InterfaceSpec = { name, methods: new Map(), properties: new Map(), signals: new Map(), xml: whole.replace(/\n\s*\n/g, '\n') };
    for (const mm of body.matchAll(/<method\s+name="([^"]+)"\s*(?:\/>|>([\s\S]*?)<\/method>)/g)) {
      const { inArgs, outArgs } = parseArgs(mm[2] ?? '', 'in');
      spec.methods.set(mm[1]!, {
        name: mm[1]!, inArgs, outArgs,
        inSignature: inArgs.map((a) => a.type).join(''),
        outSignature: outArgs.map((a) => a.type).join(''),
      });
    }
    for (const sm of body.matchAll(/<signal\s+name="([^"]+)"\s*(?:\/>|>([\s\S]*?)<\/signal>)/g)) {
      const { inArgs } = parseArgs(sm[2] ?? '', 'in');
      spec.signals.set(sm[1]!, { name: sm[1]!, args: inArgs, signature: inArgs.map((a) => a.type).join('') });
    }
    for (const pm of body.matchAll(/<property\b[^>]*>/g)) {
      const tag = pm[0];
      const pname = attr(tag, 'name');
      const type = attr(tag, 'type');
      const access = attr(tag, 'access') as PropertySpec['access'] | undefined;
      if (!pname || !type || !access) throw new Error(`introspection: incomplete <property>: ${tag}`);
      spec.properties.set(pname, { name: pname, type, access });
    }
    result.set(name, spec);
  }
  return result;
}

export const INTROSPECTION_DOCTYPE =
  '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">';

const STANDARD_INTERFACES_XML = `  <interface name="org.freedesktop.DBus.Introspectable">
    <method name="Introspect"><arg name="xml_data" type="s" direction="out"/></method>
  </interface>
  <interface name="org.freedesktop.DBus.Peer">
    <method name="Ping"/>
    <method name="GetMachineId"><arg name="machine_uuid" type="s" direction="out"/></method>
  </interface>`;

const PROPERTIES_INTERFACE_XML = `  <interface name="org.freedesktop.DBus.Properties">
    <method name="Get"><arg name="interface_name" type="s" direction="in"/><arg name="property_name" type="s" direction="in"/><arg name="value" type="v" direction="out"/></method>
    <method name="GetAll"><arg name="interface_name" type="s" direction="in"/><arg name="props" type="a{sv}" direction="out"/></method>
    <method name="Set"><arg name="interface_name" type="s" direction="in"/><arg name="property_name" type="s" direction="in"/><arg name="value" type="v" direction="in"/></method>
    <signal name="PropertiesChanged"><arg name="interface_name" type="s"/><arg name="changed_properties" type="a{sv}"/><arg name="invalidated_properties" type="as"/></signal>
  </interface>`;

/** The reply to Introspect for one object path. */
export function renderIntrospection(interfaces: InterfaceSpec[], childNames: string[]): string {
  const hasProps = interfaces.some((i) => i.properties.size > 0);
  const parts = [INTROSPECTION_DOCTYPE, '<node>', STANDARD_INTERFACES_XML];
  if (hasProps) parts.push(PROPERTIES_INTERFACE_XML);
  for (const i of interfaces) parts.push(`  ${i.xml.trim()}`);
  for (const c of childNames) parts.push(`  <node name="${c}"/>`);
  parts.push('</node>');
  return parts.join('\n');
}

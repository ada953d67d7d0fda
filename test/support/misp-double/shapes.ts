/**
 * JSON shapes of MISP 2.5.1 objects, field for field and in the order the recordings show them.
 */
import type {MispAttribute, MispEvent, MispStore, Org, Tag} from './store.js'

export function orgShape(org: Org | undefined): Record<string, unknown> {
  return {id: org?.id ?? '0', name: org?.name ?? '', uuid: org?.uuid ?? '', local: org?.local ?? true}
}

/** Shape a tag attached to an attribute or event in restSearch responses. */
export function tagShape(tag: Tag, inherited = false): Record<string, unknown> {
  const shape: Record<string, unknown> = {
    id: tag.id,
    name: tag.name,
    colour: tag.colour,
    numerical_value: tag.numerical_value,
    is_galaxy: tag.is_galaxy,
    local: 0,
  }
  if (inherited) shape.inherited = 1
  return shape
}

export function tagsOf(store: MispStore, tagIds: readonly string[], exportableOnly = true): Tag[] {
  return tagIds
    .map((id) => store.tags.get(id))
    .filter((tag): tag is Tag => tag !== undefined && (!exportableOnly || tag.exportable))
}

/** Shape the small Event object restSearch attaches to every attribute. */
export function searchEventShape(event: MispEvent): Record<string, unknown> {
  return {
    org_id: event.org_id,
    distribution: event.distribution,
    publish_timestamp: event.publish_timestamp,
    id: event.id,
    info: event.info,
    orgc_id: event.orgc_id,
    uuid: event.uuid,
  }
}

/** Shape the Event object restSearch attaches with includeContext: event metadata, tags and creator org. */
export function contextEventShape(store: MispStore, event: MispEvent): Record<string, unknown> {
  return {
    id: event.id,
    orgc_id: event.orgc_id,
    org_id: event.org_id,
    date: event.date,
    threat_level_id: event.threat_level_id,
    info: event.info,
    published: event.published,
    uuid: event.uuid,
    analysis: event.analysis,
    timestamp: event.timestamp,
    distribution: event.distribution,
    publish_timestamp: event.publish_timestamp,
    sharing_group_id: event.sharing_group_id,
    extends_uuid: '',
    Tag: tagsOf(store, event.tagIds).map((tag) => ({
      local: false,
      id: tag.id,
      name: tag.name,
      colour: tag.colour,
      numerical_value: tag.numerical_value,
    })),
    Orgc: orgShape(store.orgs.get(event.orgc_id)),
  }
}

/** Shape an attribute as restSearch returns it (without value1/value2). */
export function searchAttributeShape(attribute: MispAttribute): Record<string, unknown> {
  return {
    id: attribute.id,
    event_id: attribute.event_id,
    object_id: attribute.object_id,
    object_relation: attribute.object_relation,
    category: attribute.category,
    type: attribute.type,
    to_ids: attribute.to_ids,
    uuid: attribute.uuid,
    timestamp: attribute.timestamp,
    distribution: attribute.distribution,
    sharing_group_id: attribute.sharing_group_id,
    comment: attribute.comment,
    deleted: attribute.deleted,
    disable_correlation: attribute.disable_correlation,
    first_seen: attribute.first_seen,
    last_seen: attribute.last_seen,
    value: attribute.value,
  }
}

/** Shape an attribute as POST /attributes/add returns it, with value1 and value2. */
export function addedAttributeShape(attribute: MispAttribute): Record<string, unknown> {
  const [value1, value2 = ''] = attribute.type.includes('|') || attribute.type === 'malware-sample'
    ? attribute.value.split('|')
    : [attribute.value, '']
  return {
    id: attribute.id,
    event_id: attribute.event_id,
    object_id: attribute.object_id,
    object_relation: attribute.object_relation,
    category: attribute.category,
    type: attribute.type,
    value1,
    value2,
    to_ids: attribute.to_ids,
    uuid: attribute.uuid,
    timestamp: attribute.timestamp,
    distribution: attribute.distribution,
    sharing_group_id: attribute.sharing_group_id,
    comment: attribute.comment,
    deleted: attribute.deleted,
    disable_correlation: attribute.disable_correlation,
    first_seen: attribute.first_seen,
    last_seen: attribute.last_seen,
    value: attribute.value,
  }
}

/** Shape an attribute inside an event (events/add, events/view). */
export function eventAttributeShape(store: MispStore, attribute: MispAttribute): Record<string, unknown> {
  const shape: Record<string, unknown> = {
    id: attribute.id,
    type: attribute.type,
    category: attribute.category,
    to_ids: attribute.to_ids,
    uuid: attribute.uuid,
    event_id: attribute.event_id,
    distribution: attribute.distribution,
    timestamp: attribute.timestamp,
    comment: attribute.comment,
    sharing_group_id: attribute.sharing_group_id,
    deleted: attribute.deleted,
    disable_correlation: attribute.disable_correlation,
    object_id: attribute.object_id,
    object_relation: attribute.object_relation,
    first_seen: attribute.first_seen,
    last_seen: attribute.last_seen,
    value: attribute.value,
    Galaxy: [],
    ShadowAttribute: [],
  }
  const tags = tagsOf(store, attribute.tagIds, false)
  if (tags.length > 0) shape.Tag = tags.map((tag) => tagShape(tag))
  return shape
}

/** Shape a full event as events/add and events/view return it. */
export function fullEventShape(store: MispStore, event: MispEvent, creatorEmail: string): Record<string, unknown> {
  const attributes = store.eventAttributes(event.id).filter((attribute) => !attribute.deleted)
  const shape: Record<string, unknown> = {
    id: event.id,
    orgc_id: event.orgc_id,
    org_id: event.org_id,
    date: event.date,
    threat_level_id: event.threat_level_id,
    info: event.info,
    published: event.published,
    uuid: event.uuid,
    attribute_count: String(attributes.length),
    analysis: event.analysis,
    timestamp: event.timestamp,
    distribution: event.distribution,
    proposal_email_lock: false,
    locked: false,
    publish_timestamp: event.publish_timestamp,
    sharing_group_id: event.sharing_group_id,
    disable_correlation: false,
    extends_uuid: '',
    protected: null,
    event_creator_email: creatorEmail,
    Org: orgShape(store.orgs.get(event.org_id)),
    Orgc: orgShape(store.orgs.get(event.orgc_id)),
    Attribute: attributes.map((attribute) => eventAttributeShape(store, attribute)),
    ShadowAttribute: [],
    RelatedEvent: [],
    Galaxy: [],
    Object: [],
    EventReport: [],
    CryptographicKey: [],
  }
  const tags = tagsOf(store, event.tagIds, false)
  if (tags.length > 0) shape.Tag = tags.map((tag) => tagShape(tag))
  return shape
}

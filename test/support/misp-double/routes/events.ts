/** Events: add (with attributes), view, publish and delete. */
import {errorResponse, jsonResponse, prettyJson, saveFailureResponse, saveSuccessResponse, unwrapModel, type Route} from '../route.js'
import {fullEventShape} from '../shapes.js'
import type {EventInput} from '../store.js'

export const eventRoutes: readonly Route[] = [
  {
    method: 'POST',
    pattern: '/events/add',
    permission: 'perm_add',
    handle(request, store) {
      const identity = request.identity
      if (identity === null) throw new Error('events/add reached without an identity')
      const input = unwrapModel(request.body, 'Event') as EventInput
      const result = store.addEvent(input, identity.org.id)
      if (!result.ok) return saveFailureResponse('The event could not be saved.', '/events/add', result.errors)
      return jsonResponse(200, prettyJson({Event: fullEventShape(store, result.value, identity.user.email)}))
    },
  },
  {
    method: 'GET',
    pattern: '/events/view/:id',
    handle(request, store) {
      const event = store.events.get(request.params.id ?? '')
      if (event === undefined) return errorResponse(404, 'Invalid event', request.path)
      return jsonResponse(200, prettyJson({Event: fullEventShape(store, event, request.identity?.user.email ?? '')}))
    },
  },
  {
    method: 'POST',
    pattern: '/events/publish/:id',
    permission: 'perm_publish',
    handle(request, store) {
      const id = request.params.id ?? ''
      const event = store.publishEvent(id)
      if (event === null) return errorResponse(404, 'Invalid event.', request.path)
      const message = store.backgroundJobs ? 'Job queued' : 'Event published without alerts'
      return saveSuccessResponse(message, request.path, id)
    },
  },
  {
    method: ['POST', 'DELETE'],
    pattern: '/events/delete/:id',
    permission: 'perm_modify',
    handle(request, store) {
      const id = request.params.id ?? ''
      if (!store.deleteEvent(id)) return errorResponse(404, 'Invalid event', request.path)
      return saveSuccessResponse('Event deleted.', request.path, id)
    },
  },
]

/** GET /servers/getVersion, the call clients use to check reachability and the key. */
import {jsonResponse, prettyJson, type Route} from '../route.js'

/** The MISP release the double imitates (the recordings come from MISP 2.5.1). */
export const mispVersion = '2.5.1'

/** The instance UUID getVersion returns. */
export const instanceUuid = '00000000-0000-4000-8000-000000000001'

export const serverRoutes: readonly Route[] = [
  {
    method: 'GET',
    pattern: '/servers/getVersion',
    permission: 'perm_auth',
    handle(request) {
      const permissions = request.identity?.role.permissions ?? {}
      return jsonResponse(
        200,
        prettyJson({
          version: mispVersion,
          pymisp_recommended_version: mispVersion,
          perm_sync: permissions.perm_sync === true,
          perm_sighting: permissions.perm_sighting === true,
          perm_galaxy_editor: permissions.perm_galaxy_editor === true,
          perm_analyst_data: permissions.perm_analyst_data === true,
          uuid: instanceUuid,
          request_encoding: ['gzip'],
          filter_sightings: true,
        }),
      )
    },
  },
]

/** GET /users/view/me: the user behind the auth key, with role and organisation. */
import {jsonResponse, prettyJson, type Route} from '../route.js'

export const userRoutes: readonly Route[] = [
  {
    method: 'GET',
    pattern: '/users/view/me',
    handle(request) {
      const identity = request.identity
      if (identity === null) throw new Error('users/view/me reached without an identity')
      const {user, role, org} = identity

      return jsonResponse(
        200,
        prettyJson({
          User: {
            id: user.id,
            password: '*****',
            org_id: user.org_id,
            email: user.email,
            autoalert: false,
            invited_by: '0',
            gpgkey: null,
            certif_public: '',
            nids_sid: '4000000',
            termsaccepted: false,
            newsread: '0',
            role_id: user.role_id,
            change_pw: user.change_pw,
            contactalert: false,
            disabled: user.disabled,
            expiration: null,
            current_login: '0',
            last_login: '0',
            force_logout: false,
            date_created: null,
            date_modified: user.date_modified,
            sub: null,
            external_auth_required: false,
            external_auth_key: null,
            last_api_access: user.date_modified,
            notification_daily: false,
            notification_weekly: false,
            notification_monthly: false,
            totp: '*****',
            hotp_counter: null,
            last_pw_change: null,
            totp_is_set: '0',
          },
          Role: {id: role.id, name: role.name, ...role.permissions},
          UserSetting: [],
          Organisation: {
            id: org.id,
            name: org.name,
            description: org.description,
            type: org.type,
            uuid: org.uuid,
            local: org.local,
          },
        }),
      )
    },
  },
]

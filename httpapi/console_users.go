package httpapi

import (
	"net/http"

	"github.com/crierhq/crier/auth"
)

// The console's user pages: /account, a signed-in user's own (every role), and /users,
// the admin's list of users. Changes go through /v1/me/password and /v1/users (users.go).

type selfPage struct {
	User    userJSON
	Changed bool // the password was just changed
}

// pageSelf shows the signed-in user their account and the form that changes their
// password (or sets one, after a sign-in link).
func (s *Server) pageSelf(w http.ResponseWriter, r *http.Request) error {
	users, err := s.usersStore()
	if err != nil {
		return err
	}
	who := caller(r)
	if who.UserID == 0 {
		return errStatus(http.StatusForbidden, "forbidden", "this page is a console user's own: an API key has no account page")
	}
	u, err := users.Get(r.Context(), who.UserID)
	if err != nil {
		return err
	}
	return s.render(w, r, "self", "Your account", selfPage{User: userOut(u), Changed: r.URL.Query().Get("password") == "changed"})
}

type usersPage struct {
	Users []userJSON
	Roles []auth.Role
	Me    int64 // the signed-in admin, who may not demote or disable themselves
}

// pageUsers lists the console's users (staff lists are short: no paging) with the
// forms that create one, change a role, disable or enable, and make a sign-in link.
func (s *Server) pageUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := s.usersStore()
	if err != nil {
		return err
	}
	list, err := users.List(r.Context())
	if err != nil {
		return err
	}
	p := usersPage{Roles: auth.Roles, Me: caller(r).UserID, Users: make([]userJSON, len(list))}
	for i, u := range list {
		p.Users[i] = userOut(u)
	}
	return s.render(w, r, "users", "Users", p)
}

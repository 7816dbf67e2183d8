package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/internal/apperr"
)

// Console users: /v1/users (admin only) and /v1/me/password (every signed-in user).

// userJSON is a console user as the API shows it: never a password hash, never a token.
type userJSON struct {
	ID           int64      `json:"id"`
	Email        string     `json:"email"`
	Role         auth.Role  `json:"role"`
	HasPassword  bool       `json:"has_password"`
	Disabled     bool       `json:"disabled"`
	CreatedAt    time.Time  `json:"created_at"`
	LastSignInAt *time.Time `json:"last_sign_in_at"`
	DisabledAt   *time.Time `json:"disabled_at"`
}

func userOut(u auth.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, Role: u.Role, HasPassword: u.HasPassword, Disabled: u.DisabledAt != nil,
		CreatedAt: u.CreatedAt, LastSignInAt: u.LastSignInAt, DisabledAt: u.DisabledAt}
}

type userCreateRequest struct {
	Email    string `json:"email" validate:"required"`
	Role     string `json:"role" validate:"required"`
	Password string `json:"password"`
}

type userPatch struct {
	Role     *string `json:"role"`
	Disabled *bool   `json:"disabled"`
}

type passwordChange struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password" validate:"required"`
}

// signInLinkJSON is a one-time sign-in link: shown once, only its hash is kept.
type signInLinkJSON struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// usersStore returns the user store, or the 404 of a server without the console.
func (s *Server) usersStore() (*auth.Users, error) {
	if s.Users == nil {
		return nil, errStatus(http.StatusNotFound, "not-found", "the console is not enabled on this server: it has no users")
	}
	return s.Users, nil
}

// pathUser is the prologue of the routes on /v1/users/{id}: the store and the user's id.
func (s *Server) pathUser(r *http.Request) (*auth.Users, int64, error) {
	users, err := s.usersStore()
	if err != nil {
		return nil, 0, err
	}
	id, err := pathID(r, "user")
	return users, id, err
}

func (s *Server) userCreate(w http.ResponseWriter, r *http.Request) error {
	users, err := s.usersStore()
	if err != nil {
		return err
	}
	var req userCreateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	u, err := users.Create(r.Context(), req.Email, auth.Role(req.Role), req.Password)
	if err != nil {
		return err
	}
	setTarget(r, "user", u.ID)
	addDetail(r, "role", string(u.Role))
	addDetail(r, "password", u.HasPassword)
	w.Header().Set("Location", fmt.Sprintf("/v1/users/%d", u.ID))
	return writeJSON(w, http.StatusCreated, userOut(u))
}

func (s *Server) userList(w http.ResponseWriter, r *http.Request) error {
	users, err := s.usersStore()
	if err != nil {
		return err
	}
	list, err := users.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]userJSON, len(list))
	for i, u := range list {
		out[i] = userOut(u)
	}
	return writeJSON(w, http.StatusOK, listResponse[userJSON]{Data: out})
}

func (s *Server) userGet(w http.ResponseWriter, r *http.Request) error {
	users, id, err := s.pathUser(r)
	if err != nil {
		return err
	}
	u, err := users.Get(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, userOut(u))
}

// userUpdate changes a user's role or disables (or enables) them; either ends the
// user's sessions (auth.Users.Update). An admin may not change their own role or disable
// themselves: another admin does, so that nobody locks the last admin out by mistake.
func (s *Server) userUpdate(w http.ResponseWriter, r *http.Request) error {
	users, id, err := s.pathUser(r)
	if err != nil {
		return err
	}
	var req userPatch
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if caller(r).UserID == id {
		var fe []apperr.FieldError
		if req.Role != nil {
			fe = append(fe, apperr.FieldError{Field: "role", Message: "you cannot change your own role: ask another admin"})
		}
		if req.Disabled != nil && *req.Disabled {
			fe = append(fe, apperr.FieldError{Field: "disabled", Message: "you cannot disable yourself: ask another admin"})
		}
		if err := apperr.Fields(fe...); err != nil {
			return err
		}
	}
	c := auth.UserChange{Disabled: req.Disabled}
	if req.Role != nil {
		role := auth.Role(*req.Role)
		c.Role = &role
	}
	u, err := users.Update(r.Context(), id, c)
	if err != nil {
		return err
	}
	if req.Role != nil {
		addDetail(r, "role", string(u.Role))
	}
	if req.Disabled != nil {
		addDetail(r, "disabled", *req.Disabled)
	}
	return writeJSON(w, http.StatusOK, userOut(u))
}

// userSignInLink makes a one-time sign-in link for a user: how a new user gets in, and
// how one who forgot their password gets back in. The token is in the answer only.
func (s *Server) userSignInLink(w http.ResponseWriter, r *http.Request) error {
	users, id, err := s.pathUser(r)
	if err != nil {
		return err
	}
	token, expires, err := users.SignInLink(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, signInLinkJSON{URL: s.publicBase(r) + "/login/link/" + token, ExpiresAt: expires})
}

// publicBase is the start of the URLs Crier hands out: Options.PublicURL, else the
// scheme and Host the request came with.
func (s *Server) publicBase(r *http.Request) string {
	if s.opts.PublicURL != "" {
		return strings.TrimRight(s.opts.PublicURL, "/")
	}
	scheme := "http"
	if s.secure(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// mePassword changes the signed-in user's own password. Their other sessions end; this
// one stays. A wrong current password counts as a failed sign-in for the address's
// throttle, so that a left-open session cannot be used to guess it.
func (s *Server) mePassword(w http.ResponseWriter, r *http.Request) error {
	users, err := s.usersStore()
	if err != nil {
		return err
	}
	who := caller(r)
	if who.UserID == 0 {
		// 409 rather than 403: the key's role may do this, but the key is not a user.
		return apperr.Conflictf("an API key has no password: this changes the password of a user signed in to the console")
	}
	var req passwordChange
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	setTarget(r, "user", who.UserID)
	keep := ""
	if c, err := r.Cookie(sessionCookie); err == nil {
		keep = c.Value
	}
	err = users.ChangePassword(r.Context(), who.UserID, req.CurrentPassword, req.NewPassword, keep)
	if errors.Is(err, auth.ErrBadSignIn) {
		s.throttle.failed(r.Context(), r)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

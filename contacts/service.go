package contacts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/phonehash"
)

// Options are what a Service works with besides its database. Zero values get defaults.
type Options struct {
	// ImportConsent, when set, records an import's consent column inside the import's
	// transaction (the consent package does); without it the column is not recorded.
	ImportConsent ImportConsentRecorder
	// ImportQueue runs submitted imports in the background (the workers' import:run); nil
	// runs them in a goroutine of this process, without retries (tests, tools).
	ImportQueue ImportQueue
	// ImportLimits bound imports: how many at once, how slow and long an upload may be.
	ImportLimits ImportLimits
	// ImportMerges is how many connections merge one import at once; zero is the
	// default of ImportOptions.Merges, which an import's own options override.
	ImportMerges int
}

// Service reads and writes contacts in PostgreSQL.
type Service struct {
	pool    *pgxpool.Pool
	hasher  *phonehash.Hasher
	consent ImportConsentRecorder // nil: imports do not record consent
	queue   ImportQueue           // nil: imports run in a goroutine of this process
	limits  ImportLimits          // with defaults
	merges  int                   // Options.ImportMerges

	importLockWait time.Duration // how long ImportRun waits for a run that holds the import
	analyzeAfter   int           // contacts an import creates or changes before it analyses (analyzeAfterRows)

	chunkHook func(records int64) error // tests: called after each chunk a run merges
	partHook  func(part int) error      // tests: called after each part of an import commits on its own
}

// New returns a Service on pool. The hasher keys each contact's phone_hash, which the
// suppression list is matched against.
func New(pool *pgxpool.Pool, hasher *phonehash.Hasher, opts Options) *Service {
	return &Service{pool: pool, hasher: hasher, consent: opts.ImportConsent, queue: opts.ImportQueue,
		limits: opts.ImportLimits.WithDefaults(), merges: opts.ImportMerges,
		importLockWait: 5 * time.Second, analyzeAfter: analyzeAfterRows}
}

// ImportLimits are the limits the Service's imports are held to, defaults applied.
func (s *Service) ImportLimits() ImportLimits { return s.limits }

// contactColumns is the select list that scanContact reads. The country shown is the one
// set for the contact, else the region of the number.
const contactColumns = `id, phone, name, email, locale, timezone, coalesce(nullif(country, ''), phone_region),
	tags, attributes, created_at, updated_at`

func scanContact(row pgx.Row, extra ...any) (Contact, error) {
	var c Contact
	dest := append([]any{&c.ID, &c.Phone, &c.Name, &c.Email, &c.Locale, &c.Timezone, &c.Country,
		&c.Tags, &c.Attributes, &c.CreatedAt, &c.UpdatedAt}, extra...)
	err := row.Scan(dest...)
	return c, err
}

// Upsert creates the contact with this phone number, or updates it if it exists, and
// reports whether it was created. The phone may be national when defaultCountry (or the
// country field) says where it is from. Given fields overwrite, tags are added and
// attributes are merged.
func (s *Service) Upsert(ctx context.Context, phone, defaultCountry string, f Fields) (c Contact, created bool, err error) {
	errs := f.normalize()
	region := defaultCountry
	if f.Country != nil && *f.Country != "" {
		region = *f.Country
	}
	p, perr := NewPhone(phone, region, s.hasher)
	if perr != nil {
		errs = append([]apperr.FieldError{{Field: "phone", Message: perr.Error()}}, errs...)
	}
	if err := apperr.Fields(errs...); err != nil {
		return Contact{}, false, err
	}
	row := s.pool.QueryRow(ctx, `
		INSERT INTO contacts (phone, phone_region, name, email, locale, timezone, country, tags, attributes, phone_hash, phone_zone)
		VALUES ($1, $2, coalesce($3::text, ''), coalesce($4::text, ''), coalesce($5::text, ''), coalesce($6::text, ''),
		        coalesce($7::text, ''), coalesce($8::text[], '{}'), coalesce($9::jsonb, '{}'), $10, $11)
		ON CONFLICT (phone) DO UPDATE SET
			name       = coalesce($3, contacts.name),
			email      = coalesce($4, contacts.email),
			locale     = coalesce($5, contacts.locale),
			timezone   = coalesce($6, contacts.timezone),
			country    = coalesce($7, contacts.country),
			tags       = CASE WHEN $8::text[] IS NULL THEN contacts.tags ELSE contact_tags_union(contacts.tags, $8) END,
			attributes = contacts.attributes || coalesce($9, '{}'),
			updated_at = now()
		RETURNING `+contactColumns+`, xmax = 0`,
		p.E164, p.Region, f.Name, f.Email, f.Locale, f.Timezone, f.Country, nilIfNil(f.Tags), nilIfNilMap(f.Attributes),
		p.Hash, p.Zone)
	c, err = scanContact(row, &created)
	if err != nil {
		return Contact{}, false, fmt.Errorf("contacts: upsert: %w", interpretError(err, 0))
	}
	return c, created, nil
}

// Get returns the contact with this id.
func (s *Service) Get(ctx context.Context, id int64) (Contact, error) {
	c, err := scanContact(s.pool.QueryRow(ctx, `SELECT `+contactColumns+` FROM contacts WHERE id = $1`, id))
	if err != nil {
		return Contact{}, fmt.Errorf("contacts: get %d: %w", id, interpretError(err, id))
	}
	return c, nil
}

// GetMany returns the contacts with the given ids in one statement (the workers load the
// recipients of all the messages they are sending at once). An id that is no contact's is
// missing from the map.
func (s *Service) GetMany(ctx context.Context, ids []int64) (map[int64]Contact, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+contactColumns+` FROM contacts WHERE id = ANY ($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("contacts: get: %w", err)
	}
	out := make(map[int64]Contact, len(ids))
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("contacts: get: %w", err)
		}
		out[c.ID] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("contacts: get: %w", err)
	}
	return out, nil
}

// Update changes the given fields of a contact: tags are replaced, attributes are merged
// (a null value removes its key) and a new phone must not belong to another contact.
func (s *Service) Update(ctx context.Context, id int64, phone *string, defaultCountry string, f Fields) (Contact, error) {
	errs := f.normalize()
	var e164, phoneRegion, phoneZone *string
	var phoneHash []byte
	if phone != nil {
		region := defaultCountry
		if f.Country != nil && *f.Country != "" {
			region = *f.Country
		}
		p, err := NewPhone(*phone, region, s.hasher)
		if err != nil {
			errs = append([]apperr.FieldError{{Field: "phone", Message: err.Error()}}, errs...)
		}
		e164, phoneRegion, phoneHash, phoneZone = &p.E164, &p.Region, p.Hash, &p.Zone
	}
	if err := apperr.Fields(errs...); err != nil {
		return Contact{}, err
	}
	var set map[string]any
	var remove []string
	if f.Attributes != nil {
		set = make(map[string]any, len(f.Attributes))
		for k, v := range f.Attributes {
			if v == nil {
				remove = append(remove, k)
			} else {
				set[k] = v
			}
		}
	}
	row := s.pool.QueryRow(ctx, `
		UPDATE contacts SET
			phone        = coalesce($2::text, phone),
			phone_region = coalesce($3::text, phone_region),
			phone_hash   = coalesce($12::bytea, phone_hash),
			phone_zone   = coalesce($13::text, phone_zone),
			name         = coalesce($4::text, name),
			email        = coalesce($5::text, email),
			locale       = coalesce($6::text, locale),
			timezone     = coalesce($7::text, timezone),
			country      = coalesce($8::text, country),
			tags         = coalesce($9::text[], tags),
			attributes   = (attributes || coalesce($10::jsonb, '{}')) - coalesce($11::text[], '{}'),
			updated_at   = now()
		WHERE id = $1
		RETURNING `+contactColumns,
		id, e164, phoneRegion, f.Name, f.Email, f.Locale, f.Timezone, f.Country, nilIfNil(f.Tags), nilIfNilMap(set), nilIfNil(remove),
		phoneHash, phoneZone)
	c, err := scanContact(row)
	if err != nil {
		return Contact{}, fmt.Errorf("contacts: update %d: %w", id, interpretError(err, id))
	}
	return c, nil
}

// Delete removes a contact.
func (s *Service) Delete(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM contacts WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("contacts: delete %d: %w", id, interpretError(err, id))
	}
	if tag.RowsAffected() == 0 {
		return apperr.NotFoundf("contact %d not found", id)
	}
	return nil
}

// AddTags adds tags to a contact.
func (s *Service) AddTags(ctx context.Context, id int64, tags []string) (Contact, error) {
	tags, err := NormalizeTags(tags)
	if err != nil {
		return Contact{}, apperr.Field("tags", "%s", err)
	}
	if len(tags) == 0 {
		return Contact{}, apperr.Field("tags", "give at least one tag")
	}
	c, err := scanContact(s.pool.QueryRow(ctx, `
		UPDATE contacts SET tags = contact_tags_union(tags, $2), updated_at = now()
		WHERE id = $1
		RETURNING `+contactColumns, id, tags))
	if err != nil {
		return Contact{}, fmt.Errorf("contacts: tag %d: %w", id, interpretError(err, id))
	}
	return c, nil
}

// RemoveTag removes one tag from a contact; removing a tag it does not have is not an
// error.
func (s *Service) RemoveTag(ctx context.Context, id int64, tag string) (Contact, error) {
	tag, err := NormalizeTag(tag)
	if err != nil {
		return Contact{}, apperr.Field("tag", "%s", err)
	}
	c, err := scanContact(s.pool.QueryRow(ctx, `
		UPDATE contacts SET tags = array_remove(tags, $2), updated_at = now()
		WHERE id = $1
		RETURNING `+contactColumns, id, tag))
	if err != nil {
		return Contact{}, fmt.Errorf("contacts: untag %d: %w", id, interpretError(err, id))
	}
	return c, nil
}

// ListParams filter and page a contact list.
type ListParams struct {
	Tag            string // only contacts with this tag
	Phone          string // only the contact with this phone (any format NormalizePhone takes)
	DefaultCountry string // for a national Phone
	AfterID        int64  // keyset cursor: contacts with a greater id
	Limit          int
}

// List returns contacts in id order and the cursor for the next page (0 at the end).
func (s *Service) List(ctx context.Context, p ListParams) ([]Contact, int64, error) {
	var tag, phone *string
	if p.Tag != "" {
		t, err := NormalizeTag(p.Tag)
		if err != nil {
			return nil, 0, apperr.Field("tag", "%s", err)
		}
		tag = &t
	}
	if p.Phone != "" {
		e164, _, err := NormalizePhone(p.Phone, p.DefaultCountry)
		if err != nil {
			return nil, 0, apperr.Field("phone", "%s", err)
		}
		phone = &e164
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+contactColumns+` FROM contacts
		WHERE id > $1
		  AND ($2::text IS NULL OR tags @> ARRAY[$2::text])
		  AND ($3::text IS NULL OR phone = $3)
		ORDER BY id
		LIMIT $4`, p.AfterID, tag, phone, p.Limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("contacts: list: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Contact, error) { return scanContact(r) })
	if err != nil {
		return nil, 0, fmt.Errorf("contacts: list: %w", err)
	}
	var next int64
	if len(list) > p.Limit {
		list = list[:p.Limit]
		next = list[len(list)-1].ID
	}
	return list, next, nil
}

// BackfillPhoneHashes sets phone_hash on contacts that lack it (rows older than the
// column) and returns how many it set. It works in batches and is cheap when there is
// nothing to do.
func (s *Service) BackfillPhoneHashes(ctx context.Context) (int, error) {
	total := 0
	for {
		rows, err := s.pool.Query(ctx, `SELECT id, phone FROM contacts WHERE phone_hash IS NULL LIMIT 1000`)
		if err != nil {
			return total, fmt.Errorf("contacts: backfill phone hashes: %w", err)
		}
		type row struct {
			ID    int64
			Phone string
		}
		batch, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
		if err != nil {
			return total, fmt.Errorf("contacts: backfill phone hashes: %w", err)
		}
		if len(batch) == 0 {
			return total, nil
		}
		b := &pgx.Batch{}
		for _, r := range batch {
			b.Queue(`UPDATE contacts SET phone_hash = $2 WHERE id = $1`, r.ID, s.hasher.Sum(r.Phone))
		}
		if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
			return total, fmt.Errorf("contacts: backfill phone hashes: %w", err)
		}
		total += len(batch)
	}
}

// CountTagged counts the contacts that have any of the given tags.
func (s *Service) CountTagged(ctx context.Context, tags []string) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM contacts WHERE tags && $1`, tags).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("contacts: count tagged: %w", err)
	}
	return n, nil
}

// interpretError turns the pgx errors that callers branch on into apperr codes; it is the
// only place that looks at SQLSTATEs and constraint names in this package.
func interpretError(err error, id int64) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return apperr.NotFoundf("contact %d not found", id)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "contacts_phone_key" {
		return apperr.Conflictf("another contact has this phone number")
	}
	if errors.As(err, &pgErr) && pgErr.Code == "23514" && pgErr.ConstraintName == "contacts_tags_limit" {
		return apperr.Field("tags", "a contact can have at most %d tags", maxTagsPerContact)
	}
	if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available: only ImportRun sets a lock_timeout
		return errImportLocked
	}
	return err
}

func nilIfNil[T any](s []T) any {
	if s == nil {
		return nil
	}
	return s
}

func nilIfNilMap(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

package contacts

import (
	"context"
	"fmt"
)

// phoneZoneBatch is how many contacts BackfillPhoneZones updates per statement.
const phoneZoneBatch = 10_000

// selectMissingPhoneZones reads a batch of the contacts without a phone zone, by id; the
// partial index contacts_phone_zone_missing_idx holds exactly them.
//
//	$1 limit int
const selectMissingPhoneZones = `
SELECT id, phone FROM contacts WHERE phone_zone IS NULL ORDER BY id LIMIT $1`

// setPhoneZones sets the phone zone of the contacts given that still have none.
//
//	$1 ids bigint[], $2 zones text[] (one per id)
const setPhoneZones = `
UPDATE contacts c SET phone_zone = v.zone
FROM unnest($1::bigint[], $2::text[]) AS v(id, zone)
WHERE c.id = v.id AND c.phone_zone IS NULL`

// BackfillPhoneZones computes contacts.phone_zone (PhoneZone) for the contacts that have
// none yet (those written before the column existed: the Service writes it with every
// phone), in batches, and returns how many it filled. It is cheap when there are none: a
// partial index holds exactly the missing ones. Campaign launches call it first.
func (s *Service) BackfillPhoneZones(ctx context.Context) (int64, error) {
	var total int64
	for {
		rows, err := s.pool.Query(ctx, selectMissingPhoneZones, phoneZoneBatch)
		if err != nil {
			return total, fmt.Errorf("contacts: phone zones: %w", err)
		}
		var ids []int64
		var zones []string
		for rows.Next() {
			var id int64
			var phone string
			if err := rows.Scan(&id, &phone); err != nil {
				rows.Close()
				return total, fmt.Errorf("contacts: phone zones: %w", err)
			}
			ids, zones = append(ids, id), append(zones, PhoneZone(phone))
		}
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("contacts: phone zones: %w", err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		tag, err := s.pool.Exec(ctx, setPhoneZones, ids, zones)
		if err != nil {
			return total, fmt.Errorf("contacts: phone zones: %w", err)
		}
		total += tag.RowsAffected()
		if len(ids) < phoneZoneBatch {
			return total, nil
		}
	}
}

// Package sqltest holds what the tests of the packages that own SQL statements share: a
// database filled with the shape of a real one for checking plans (Fill), the plans
// themselves (Explain, CheckPlans), and a check of a statement's $n parameters
// (CheckParams).
//
// It is for tests only: nothing outside a _test.go file imports it.
package sqltest

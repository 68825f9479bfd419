package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GroupSelector chooses ReplicationGroups by their labels. It is a Kubernetes label selector, with the
// fields and meaning of metav1.LabelSelector, bounded so that admission checks every value and every
// expression's key: a value no label can hold (a raw provider id, say) would match no group, and the
// run would only fail when it started. It is replaced as a whole on
// apply, as metav1.LabelSelector is: matchLabels another writer set must not stay in a selector applied
// from Git.
// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn'] ? has(e.values) && size(e.values) > 0 : (e.operator in ['Exists', 'DoesNotExist'] && (!has(e.values) || size(e.values) == 0)))",message="groupSelector.matchExpressions: operator must be In or NotIn with values, or Exists or DoesNotExist without values"
// +structType=atomic
type GroupSelector struct {
	// matchLabels selects the groups that have every one of these labels.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, !format.qualifiedName().validate(k).hasValue())",message="keys must be label keys: [DNS subdomain/]name, the name up to 63 letters, digits, '-', '_' or '.', beginning and ending with a letter or digit"
	MatchLabels map[string]LabelSelectorValue `json:"matchLabels,omitempty"`

	// matchExpressions selects the groups that meet every one of these requirements.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	MatchExpressions []GroupSelectorRequirement `json:"matchExpressions,omitempty"`
}

// GroupSelectorRequirement is one requirement of a GroupSelector (metav1.LabelSelectorRequirement).
type GroupSelectorRequirement struct {
	// key is the label key the requirement applies to: [DNS subdomain/]name, the name up to 63 letters,
	// digits, '-', '_' or '.', beginning and ending with a letter or digit.
	// +kubebuilder:validation:MaxLength=317
	// +kubebuilder:validation:XValidation:rule="!format.qualifiedName().validate(self).hasValue()",message="must be a label key: [DNS subdomain/]name, the name up to 63 letters, digits, '-', '_' or '.', beginning and ending with a letter or digit"
	Key string `json:"key"`
	// operator is In, NotIn, Exists or DoesNotExist.
	Operator metav1.LabelSelectorOperator `json:"operator"`
	// values are the label values for In and NotIn; none for Exists and DoesNotExist.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	// +listType=atomic
	Values []LabelSelectorValue `json:"values,omitempty"`
}

// LabelSelectorValue is a label value: up to 63 letters, digits, '-', '_' or '.', beginning and ending
// with a letter or digit, or empty. ReplicationGroup labels hold label-safe forms of the provider's ids
// (LabelValue): 'kubectl get rg --show-labels' lists them.
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:XValidation:rule="!format.labelValue().validate(self).hasValue()",message="must be a label value: up to 63 letters, digits, '-', '_' or '.', beginning and ending with a letter or digit; ReplicationGroup labels hold label-safe forms of the provider's ids ('kubectl get rg --show-labels' lists them)"
type LabelSelectorValue string

// LabelSelector returns s as a metav1.LabelSelector (nil for nil).
func (s *GroupSelector) LabelSelector() *metav1.LabelSelector {
	if s == nil {
		return nil
	}
	out := &metav1.LabelSelector{}
	for k, v := range s.MatchLabels {
		if out.MatchLabels == nil {
			out.MatchLabels = make(map[string]string, len(s.MatchLabels))
		}
		out.MatchLabels[k] = string(v)
	}
	for _, e := range s.MatchExpressions {
		r := metav1.LabelSelectorRequirement{Key: e.Key, Operator: e.Operator}
		for _, v := range e.Values {
			r.Values = append(r.Values, string(v))
		}
		out.MatchExpressions = append(out.MatchExpressions, r)
	}
	return out
}

// GroupSelectorOf returns sel as a GroupSelector (nil for nil).
func GroupSelectorOf(sel *metav1.LabelSelector) *GroupSelector {
	if sel == nil {
		return nil
	}
	out := &GroupSelector{}
	for k, v := range sel.MatchLabels {
		if out.MatchLabels == nil {
			out.MatchLabels = make(map[string]LabelSelectorValue, len(sel.MatchLabels))
		}
		out.MatchLabels[k] = LabelSelectorValue(v)
	}
	for _, e := range sel.MatchExpressions {
		r := GroupSelectorRequirement{Key: e.Key, Operator: e.Operator}
		for _, v := range e.Values {
			r.Values = append(r.Values, LabelSelectorValue(v))
		}
		out.MatchExpressions = append(out.MatchExpressions, r)
	}
	return out
}

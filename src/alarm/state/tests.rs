use super::*;

#[test]
fn a_new_alarm_is_normal() {
    assert_eq!(AlarmState::default().name(), StateName::Normal);
}

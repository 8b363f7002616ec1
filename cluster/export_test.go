package cluster

// RemoteConfig is the library's remote as cluster members use it.
var RemoteConfig = remoteConfig

// LeaveCluster is a member's leave, which survives the library's panic there.
var LeaveCluster = leaveCluster

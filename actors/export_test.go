package actors

// NewActorSystem is the actor system of a tasktail process, for tests that stand up
// processes that talk through the library's remote.
var NewActorSystem = newActorSystem

// RemoteConfig is the library's remote as cluster members use it.
var RemoteConfig = remoteConfig

// LeaveCluster is a member's leave, which survives the library's panic there.
var LeaveCluster = leaveCluster
